/**
 * Reachability as a task sees it, entirely inside namespaces this test
 * creates: one stands for the host (the proxy process and the nftables rules
 * from metadataProxyNftScript), one for a task (eth0, routes as the local
 * network driver sets them). The "host" namespace has no interface but lo and
 * the task's veth, so nothing addressed to 169.254.169.254 can go anywhere but
 * the proxy. Needs root, ip and nft; skipped otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { metadataProxyNftScript } from '../../src/metadata-proxy/nftables.js';

const haveTools = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'nft', 'curl']) {
    if ((await runCommand(['sh', '-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) return false;
  }
  return true;
};

const run = async (argv: string[], input?: string): Promise<string> => (await runCommand(argv, { timeoutMs: 15_000, ...(input === undefined ? {} : { input }) })).stdout;
const inNs = (ns: string, argv: string[], input?: string): Promise<string> => run(['ip', 'netns', 'exec', ns, ...argv], input);

const TASK = { taskId: 'task-netns-0001', ipv4Address: '198.18.99.2', ipv6Address: 'fd00:7175:99::2', roleArn: 'arn:aws:iam::111122223333:role/netns-role' };
const GW4 = '198.18.99.1';
const GW6 = 'fd00:7175:99::1';
const PORT = 8169;

const startProxyIn = async (t: Test, ns: string): Promise<ChildProcess> => {
  const script = fileURLToPath(new URL('./fixtures/netns-proxy-process.ts', import.meta.url));
  const spec = JSON.stringify({ port: PORT, hosts: ['0.0.0.0', '::'], task: TASK });
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, script, spec], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('proxy process did not start')), 20_000);
    child.once('exit', (code) => reject(new Error(`proxy process exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line === 'READY') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
};

const toolsPresent = await haveTools();

t.test('a task reaches the proxy at 169.254.169.254:80 and [fd00:ec2::254]:80 through the DNAT rules', { skip: toolsPresent ? false : 'needs root, ip, nft and curl' }, async (t) => {
  const suffix = randomBytes(3).toString('hex');
  const host = `tt-mdhost-${suffix}`;
  const task = `tt-mdtask-${suffix}`;
  const veth = `tx${suffix}`;
  for (const ns of [host, task]) {
    await run(['ip', 'netns', 'add', ns]);
    t.teardown(() => runCommand(['ip', 'netns', 'del', ns], { allowFailure: true }));
    await inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  await run(['ip', '-n', host, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', task]);
  // Host side, as the local driver does it: gateway /32 and /128 on the veth, a route per task address.
  await inNs(host, ['ip', 'addr', 'add', `${GW4}/32`, 'dev', veth]);
  await inNs(host, ['ip', 'addr', 'add', `${GW6}/128`, 'dev', veth, 'nodad']);
  await inNs(host, ['ip', 'link', 'set', veth, 'up']);
  await inNs(host, ['ip', 'route', 'add', `${TASK.ipv4Address}/32`, 'dev', veth, 'src', GW4]);
  await inNs(host, ['ip', 'route', 'add', `${TASK.ipv6Address}/128`, 'dev', veth]);
  // Task side.
  await inNs(task, ['ip', 'addr', 'add', `${TASK.ipv4Address}/24`, 'dev', 'eth0', 'noprefixroute']);
  await inNs(task, ['ip', 'addr', 'add', `${TASK.ipv6Address}/64`, 'dev', 'eth0', 'nodad']);
  await inNs(task, ['ip', 'link', 'set', 'eth0', 'up']);
  await inNs(task, ['ip', 'route', 'add', GW4, 'dev', 'eth0', 'scope', 'link']);
  await inNs(task, ['ip', 'route', 'add', 'default', 'via', GW4]);
  await inNs(task, ['ip', 'route', 'add', '169.254.169.254', 'via', GW4]);
  await inNs(task, ['ip', '-6', 'route', 'add', 'fd00:ec2::254', 'via', GW6]);

  const links = (JSON.parse(await inNs(host, ['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
  t.same(links, ['lo', veth].sort(), 'the host namespace has no way out');

  await inNs(host, ['nft', '-f', '-'], metadataProxyNftScript({ proxyPort: PORT, ipv6: true, taskInterfaces: 'tx*' }));
  await startProxyIn(t, host);

  const curl = (args: string[]) => inNs(task, ['curl', '-sS', '--max-time', '5', ...args]);
  const token = await curl(['-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token']);
  t.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'token over IPv4');
  const id = await curl(['-H', `X-aws-ec2-metadata-token: ${token}`, 'http://169.254.169.254/latest/meta-data/instance-id']);
  t.equal(id, TASK.taskId, 'the proxy knows the task by its source address');
  const id6 = await curl(['-g', '-H', `X-aws-ec2-metadata-token: ${token}`, 'http://[fd00:ec2::254]/latest/meta-data/instance-id']);
  t.equal(id6, TASK.taskId, 'and over IPv6, by its IPv6 address');
  const role = await curl(['-H', `X-aws-ec2-metadata-token: ${token}`, 'http://169.254.169.254/latest/meta-data/iam/security-credentials/']);
  t.equal(role, 'netns-role');
  const v1 = await curl(['-o', '/dev/null', '-w', '%{http_code}', 'http://169.254.169.254/latest/meta-data/instance-id']);
  t.equal(v1, '401', 'IMDSv1 refused where tokens are required');
  const spoof = await curl(['-H', 'X-Forwarded-For: 198.18.99.77', '-H', `X-aws-ec2-metadata-token: ${token}`, 'http://169.254.169.254/latest/meta-data/local-ipv4']);
  t.equal(spoof, TASK.ipv4Address, 'headers do not change who the task is');

  // Only port 80 is redirected; nothing else at 169.254.169.254 answers.
  const other = await runCommand(['ip', 'netns', 'exec', task, 'curl', '-sS', '--max-time', '2', 'http://169.254.169.254:81/'], { allowFailure: true });
  t.not(other.code, 0, 'port 81 goes nowhere');
});
