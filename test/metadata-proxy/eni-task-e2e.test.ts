/**
 * ENI tasks and instance metadata, end to end (issue 17): the whole executor
 * with `network.driver: aws-eni` and `metadataProxy.enabled`, a real dockerd
 * (test/harness), real busybox task containers, and real clients inside the
 * tasks' namespaces.
 *
 * What stands for what (all inside namespaces this test creates, or loopback):
 * - EC2: test/vpc/fixtures/fake-ec2.ts on 127.0.0.1; attaching an ENI makes a
 *   NIC with its MAC appear in a test namespace standing for the instance, and
 *   the driver moves it into the task's sandbox namespace;
 * - the VPC behind the ENI: the other end of that NIC's veth, holding the VPC
 *   router's addresses and the VPC's own instance metadata service at
 *   169.254.169.254:80/81 and [fd00:ec2::254]:80, serving the HOST's role
 *   credentials (test/vpc/fixtures/eni-host.ts). It must never get a request;
 * - AWS STS: fixtures/fake-sts.ts on 127.0.0.1, reached by the proxy;
 * - an executor restart: `titus-executor serve` as a child process, SIGKILLed
 *   with an ENI task running, then started again (needs the build).
 *
 * Needs root, ip, nft, nsenter and curl (the harness needs root anyway).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { call } from '../../src/cli/client.js';
import { runCommand } from '../../src/common/command-runner.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';
import { containersWithLabel, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { serveProcesses } from '../helpers/serve-process.js';
import { createEniHost, ENI_INSTANCE, ENI_SUBNET, ipv6DefaultRouteLikeEc2, type EniHost } from '../vpc/fixtures/eni-host.js';
import { FakeImds } from './fixtures/fake-imds.js';
import { FakeSts } from './fixtures/fake-sts.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOST_KEY = { id: 'AKIAHOSTENIE2EFAKE01', secret: 'hostEniE2eSecretNeverServed0123456789ab' };
const ROLE_A = 'arn:aws:iam::111122223333:role/eni-alpha';
const built = existsSync(join(ROOT, 'dist', 'src', 'parts', 'metadata-service.js'));

const haveTools = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'nft', 'nsenter', 'curl']) {
    if ((await runCommand(['sh', '-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) return false;
  }
  return true;
};
const toolsPresent = await haveTools();
const isLoopbackUrl = (url: string): boolean => /^127\.\d+\.\d+\.\d+$/.test(new URL(url).hostname);

let h: Harness;
let ex: TestExecutor;
let eniHost: EniHost;
let sts: FakeSts;
let upstream: FakeImds;
let awsEni: Record<string, unknown>;
let metadataProxy: Record<string, unknown>;

t.before(async () => {
  if (!toolsPresent) return;
  const { useHarness } = await import('../harness/index.js');
  h = await useHarness(t);
  eniHost = await createEniHost(t);
  sts = new FakeSts({ clock: Date.now, hostAccessKeyId: HOST_KEY.id });
  const stsUrl = await sts.start();
  t.teardown(() => sts.stop());
  sts.setRole(ROLE_A, 'ok');
  // The proxy's own upstream (never asked: placement is configured), distinct from the VPC's IMDS behind the ENI.
  upstream = new FakeImds();
  const upstreamUrl = await upstream.start();
  t.teardown(() => upstream.stop());

  const saved = { ...process.env };
  process.env['AWS_ACCESS_KEY_ID'] = HOST_KEY.id;
  process.env['AWS_SECRET_ACCESS_KEY'] = HOST_KEY.secret;
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  t.teardown(() => {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  awsEni = {
    endpoint: eniHost.endpoint,
    subnetId: ENI_SUBNET.id,
    instanceId: ENI_INSTANCE,
    hostNetns: eniHost.hostNs,
    maxTaskEnis: 4,
    maxAttempts: 2,
    pollIntervalMs: 20,
    deviceWaitMs: 5000,
    detachWaitMs: 5000,
  };
  metadataProxy = {
    enabled: true,
    // No fixed port: with aws-eni nothing of the proxy listens on the host.
    listen: { hosts: ['0.0.0.0'], port: 0 },
    upstream: { url: upstreamUrl, timeoutMs: 1_000 },
    placement: { region: 'eu-test-1', availabilityZone: 'eu-test-1a', availabilityZoneId: 'eut1-az1' },
    sts: { region: 'eu-test-1', endpoint: stsUrl, maxAttempts: 1, requestTimeoutMs: 2_000 },
  };
  if (!isLoopbackUrl(eniHost.endpoint) || !isLoopbackUrl(upstreamUrl) || !isLoopbackUrl(stsUrl)) throw new Error('EC2, STS and the upstream IMDS must be loopback fakes');
  ex = await startTestExecutor(t, h, { network: { driver: 'aws-eni', awsEni }, metadataProxy });
});

const test = (name: string, fn: (t: Test) => Promise<void>, skip: string | false = false): void => {
  t.test(name, { skip: toolsPresent ? skip : 'needs root, ip, nft, nsenter and curl' }, async (t) => {
    await fn(t);
    t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container left behind');
  });
};

const busybox = (extra: ContainerInfo = {}): ContainerInfo => ({
  fullyQualifiedImage: h.images.busyboxRepo,
  process: { entrypoint: ['/bin/sh', '-c'], command: ['sleep 120'] },
  networkConfigInfo: { securityGroups: ['sg-web'] },
  ...extra,
});

const inContainer = async (containerId: string, script: string): Promise<{ out: string; code: number }> => {
  const r = await h.docker(['exec', containerId, 'sh', '-c', `{ ${script}; } 2>&1`], { allowFailure: true });
  return { out: r.stdout, code: r.code };
};

/** curl in a container's network namespace (as root there: SO_BINDTODEVICE and source addresses as any task may pick). */
const curlIn = async (containerId: string, args: string[]): Promise<{ reached: boolean; body: string; detail: string }> => {
  const pid = (await h.docker(['inspect', '-f', '{{.State.Pid}}', containerId])).stdout.trim();
  const r = await runCommand(['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'curl', '-sS', '--max-time', '2', '-w', '\n%{http_code}', ...args], { allowFailure: true, timeoutMs: 10_000 });
  const lines = r.stdout.split('\n');
  const status = lines.pop() ?? '';
  return { reached: r.code === 0 && status !== '000', body: lines.join('\n'), detail: `rc=${r.code} status=${status} ${r.stderr.trim()}` };
};

const TOKEN_PUT = `printf 'PUT /latest/api/token HTTP/1.0\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 300\\r\\n\\r\\n' | nc 169.254.169.254 80 | tail -n1`;
const get = (path: string, token?: string, host = '169.254.169.254'): string =>
  `wget -q -O- ${token === undefined ? '' : `--header 'X-aws-ec2-metadata-token: ${token}' `}http://${host}${path}`;

/** Every way a task could try to reach the VPC's IMDS (the host's role) instead of its own proxy. */
const tryHostImds = async (t: Test, containerId: string, ipv4: string, ipv6: string | undefined): Promise<void> => {
  const attempts: Array<[string, string[]]> = [
    ['bound to the ENI (SO_BINDTODEVICE eth0), i.e. out via its gateway', ['--interface', 'eth0', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/']],
    ['port 81', ['http://169.254.169.254:81/latest/meta-data/']],
    ['from the task address, port 81', ['--interface', ipv4, 'http://169.254.169.254:81/latest/meta-data/']],
    ['IPv6 bound to the ENI', ['-g', '--interface', 'eth0', 'http://[fd00:ec2::254]/latest/meta-data/']],
  ];
  for (const [how, args] of attempts) {
    const r = await curlIn(containerId, args);
    t.notOk(r.reached, `${how}: nothing answers (${r.detail})`);
  }
  const nc81 = await inContainer(containerId, 'timeout 5 nc -w 2 169.254.169.254 81 </dev/null; echo "rc=$?"');
  t.notMatch(nc81.out, /rc=0/, `busybox nc to 169.254.169.254:81 gets nowhere (${nc81.out.trim()})`);
  if (ipv6 === undefined) {
    const v6 = await curlIn(containerId, ['-g', 'http://[fd00:ec2::254]/latest/meta-data/']);
    t.notOk(v6.reached, `IPv6 from an IPv4-only task: nothing answers (${v6.detail})`);
  }
};

test('an ENI task reads its own metadata and role credentials from its proxy, and never the VPC instance metadata service', async (t) => {
  const taskId = uniqueTaskId('eni-md');
  await ex.launch({ taskId, containerInfo: busybox({ iamProfile: ROLE_A, passthroughAttributes: { 'titusParameter.agent.assignIPv6Address': 'true' } }) });
  const updates = await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const network = updates.find((u) => u.network?.ipv4Address)?.network;
  const task = await ex.get(taskId);
  const containerId = task.containerId ?? '';
  const ipv4 = network?.ipv4Address ?? '';
  const ipv6 = network?.ipv6Address === '' ? undefined : network?.ipv6Address;
  t.ok(network?.eniId, `an ENI task (${network?.eniId})`);
  t.ok(ipv6, 'with IPv6');
  const pid = (await h.docker(['inspect', '-f', '{{.State.Pid}}', containerId])).stdout.trim();
  await ipv6DefaultRouteLikeEc2(`/proc/${pid}/ns/net`);

  // Its own proxy answers, as the task.
  t.equal((await inContainer(containerId, get('/latest/meta-data/instance-id'))).out, taskId, 'instance-id is the task id: the proxy answers, not the VPC');
  t.equal((await inContainer(containerId, get('/latest/meta-data/local-ipv4'))).out, ipv4);
  t.equal((await inContainer(containerId, get('/latest/meta-data/iam/security-credentials/'))).out, 'eni-alpha', 'only its own role');
  const creds = JSON.parse((await inContainer(containerId, get('/latest/meta-data/iam/security-credentials/eni-alpha'))).out) as Record<string, string>;
  const issued = sts.latestFor(`titus-${taskId}`);
  t.match(creds, { Code: 'Success', AccessKeyId: issued?.accessKeyId, SecretAccessKey: issued?.secretAccessKey }, "the role's credentials, from STS");
  const token = (await inContainer(containerId, TOKEN_PUT)).out.trim();
  t.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'IMDSv2: a token from the proxy');
  t.equal((await inContainer(containerId, get('/latest/meta-data/instance-id', token))).out, taskId, 'and reads with it');
  const forged = await inContainer(containerId, get('/latest/meta-data/instance-id', 'forged.token'));
  t.not(forged.code, 0, 'a forged token gets nothing');
  t.match(forged.out, /401/);
  t.equal((await inContainer(containerId, get('/latest/meta-data/instance-id', undefined, '[fd00:ec2::254]'))).out, taskId, 'at [fd00:ec2::254] too');
  const hostRole = await inContainer(containerId, get('/latest/meta-data/iam/security-credentials/host-instance-role'));
  t.not(hostRole.code, 0, "the host's role name gets nothing");
  t.match(hostRole.out, /404/);

  await tryHostImds(t, containerId, ipv4, ipv6);
  t.same(eniHost.hostImds.requests, [], 'the VPC instance metadata service (the host role) never got a request');
  t.same(upstream.requests, [], 'nor the proxy upstream');
  t.same(ex.executor.metadata?.proxy.taskNamespaces(), [taskId], 'one listener set, in the task namespace');
  t.same(ex.executor.metadata?.proxy.addresses(), [], 'nothing of the proxy listens on the host');

  await ex.kill(taskId, 0);
  await ex.waitForState(taskId, 'terminal');
  t.same(ex.executor.metadata?.proxy.taskNamespaces(), [], 'its listeners closed with it');
  t.equal(eniHost.fake.enis.size, 0, 'its ENI deleted');
});

test('a task whose metadata listener cannot be set up never starts (fail closed)', async (t) => {
  const proxy = ex.executor.metadata?.proxy;
  if (proxy === undefined) throw new Error('no proxy');
  const original = proxy.serveTaskNamespace.bind(proxy);
  proxy.serveTaskNamespace = async () => {
    throw new Error('injected: cannot bind 169.254.169.254:80');
  };
  t.teardown(() => {
    proxy.serveTaskNamespace = original;
  });
  const taskId = uniqueTaskId('eni-nomd');
  await ex.launch({ taskId, containerInfo: busybox({ process: { entrypoint: ['/bin/sh', '-c'], command: ['echo started'] } }) });
  const updates = await ex.waitForState(taskId, 'terminal');
  const last = updates[updates.length - 1];
  // The host's fault, not the task's: LOST, so Titus places it elsewhere (outcome.ts).
  t.equal(last?.state, 'TASK_STATE_LOST', `the task ends before it starts (${updates.map((u) => `${u.state}: ${u.message}`).join(' | ')})`);
  t.match(last?.message ?? '', /no instance metadata listener.*injected/);
  t.notOk(updates.some((u) => u.state === 'TASK_STATE_RUNNING'), 'it never ran');
  t.equal(eniHost.fake.enis.size, 0, 'its ENI was released');
});

test('across an executor crash and restart an ENI task never reaches the VPC instance metadata service, and gets its proxy back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-eni-md-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const executorId = `eni-md-restart-${h.runId}`;
  const serve = serveProcesses(
    t,
    dir,
    { executorId, docker: { host: h.dockerHost }, network: { driver: 'aws-eni', awsEni }, metadataProxy },
    { AWS_ACCESS_KEY_ID: HOST_KEY.id, AWS_SECRET_ACCESS_KEY: HOST_KEY.secret, AWS_EC2_METADATA_DISABLED: 'true' },
  );
  t.teardown(async () => {
    for (const c of await containersWithLabel(h, 'titus.executor.id', executorId)) await h.docker(['rm', '-f', c], { allowFailure: true });
  });
  const first = await serve.start();
  const taskId = uniqueTaskId('eni-survivor');
  await call(first.client.LaunchTask.bind(first.client), { taskId, containerInfo: busybox({ iamProfile: ROLE_A }) });
  let containerId = '';
  let ipv4 = '';
  for (let i = 0; i < 300 && containerId === ''; i++) {
    const task = await call(first.client.GetTask.bind(first.client), { taskId });
    if (task.state === 'TASK_STATE_RUNNING') {
      containerId = task.containerId ?? '';
      ipv4 = task.lastUpdate?.network?.ipv4Address ?? '';
    } else await new Promise((r) => setTimeout(r, 100));
  }
  t.not(containerId, '', 'the ENI task runs');
  t.equal((await inContainer(containerId, get('/latest/meta-data/instance-id'))).out, taskId, 'before the crash its proxy answers');

  await first.crash();
  const down = await inContainer(containerId, `timeout 5 ${get('/latest/meta-data/instance-id')}; echo "rc=$?"`);
  t.notMatch(down.out, /rc=0/, `with the executor down nothing answers at 169.254.169.254 (${down.out.trim()})`);
  const direct = await curlIn(containerId, ['http://169.254.169.254/latest/meta-data/']);
  t.notOk(direct.reached, `direct: nothing (${direct.detail})`);
  await tryHostImds(t, containerId, ipv4, undefined);
  t.same(eniHost.hostImds.requests, [], 'the VPC instance metadata service got nothing while the executor was down');

  const second = await serve.start();
  let back = '';
  for (let i = 0; i < 100 && back !== taskId; i++) {
    back = (await inContainer(containerId, `timeout 3 ${get('/latest/meta-data/instance-id')}`)).out;
    if (back !== taskId) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(back, taskId, 'the restarted executor serves the task in its namespace again');
  const creds = JSON.parse((await inContainer(containerId, get('/latest/meta-data/iam/security-credentials/eni-alpha'))).out) as Record<string, string>;
  t.equal(creds['AccessKeyId'], sts.latestFor(`titus-${taskId}`)?.accessKeyId, 'with its role credentials');
  await tryHostImds(t, containerId, ipv4, undefined);
  t.same(eniHost.hostImds.requests, [], 'and the VPC instance metadata service still got nothing');

  await call(second.client.KillTask.bind(second.client), { taskId, killWaitSeconds: 0 }).catch(() => undefined);
  for (let i = 0; i < 200 && (await containersWithLabel(h, 'titus.executor.id', executorId)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  second.client.close();
  const stopped = new Promise((r) => second.child.once('exit', r));
  second.child.kill('SIGTERM');
  await stopped;
}, built ? false : 'needs `npm run build` (npm test builds first)');
