/**
 * The metadata proxy serving real tasks, end to end: the whole executor
 * (in this process) with `metadataProxy.enabled`, a real dockerd and registry
 * (test/harness), real busybox task containers with the local network driver,
 * and real clients inside or next to the tasks.
 *
 * What stands for what:
 * - the host: a network namespace this test creates (`network.local.hostNetns`)
 *   holding the host side of every task veth, the nftables redirect of
 *   169.254.169.254:80 and [fd00:ec2::254]:80, and the proxy's listening
 *   sockets (bound there, served by the executor). It has no interface but lo
 *   and the task veths, so nothing a task sends can leave it;
 * - AWS STS: fixtures/fake-sts.ts on 127.0.0.1 of this process's namespace
 *   (the executor's), reached by the proxy through the real @aws-sdk/client-sts,
 *   signed with static fake host credentials from the environment;
 * - the host's own instance metadata service: fixtures/fake-imds.ts on
 *   127.0.0.1, which must never be asked for anything (placement is configured);
 * - tasks' clients: busybox `wget`/`nc` inside the task containers (docker
 *   exec), and the real AWS SDK IMDS credential provider
 *   (@smithy/credential-provider-imds) run in a task's network namespace;
 * - an executor crash: the last test runs `titus-executor serve` as a child
 *   process (needs the build) in a second test namespace, SIGKILLs it with a
 *   task running, and restarts it.
 *
 * Nothing is sent to the real 169.254.169.254 or to AWS: every endpoint in the
 * config is checked to be loopback before the executor starts, and the task
 * namespaces' only way out is the test's host namespace. Needs root, ip, nft
 * and nsenter (the harness needs root anyway).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { call } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import { runCommand } from '../../src/common/command-runner.js';
import { createLogger } from '../../src/common/log.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';
import { containersWithLabel, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { serveProcesses } from '../helpers/serve-process.js';
import { FakeImds } from './fixtures/fake-imds.js';
import { FakeSts } from './fixtures/fake-sts.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOST_KEY = { id: 'AKIAHOSTE2EFAKE00001', secret: 'hostE2eSecretNeverServed0123456789abcd' };
const ROLE_A = 'arn:aws:iam::111122223333:role/e2e-alpha';
const ROLE_B = 'arn:aws:iam::444455556666:role/team/e2e-bravo';
const ROLE_DENIED = 'arn:aws:iam::111122223333:role/e2e-not-trusted';
const POOL4 = '198.18.41.0/24';
const POOL6 = 'fd00:7175:41::/64';

/** `titus-executor serve` as a child process needs the build (npm test builds first), with this change in it. */
const built = existsSync(join(ROOT, 'dist', 'src', 'parts', 'metadata-service.js'));

const run = async (argv: string[], timeoutMs = 15_000): Promise<string> => (await runCommand(argv, { timeoutMs })).stdout;
const inNs = (ns: string, argv: string[]): Promise<string> => run(['ip', 'netns', 'exec', ns, ...argv]);

const haveTools = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'nft', 'nsenter', 'curl']) {
    if ((await runCommand(['sh', '-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) return false;
  }
  return true;
};

const isLoopbackUrl = (url: string): boolean => /^127\.\d+\.\d+\.\d+$/.test(new URL(url).hostname);

let h: Harness;
let ex: TestExecutor;
let hostNs: string;
let stsUrl: string;
let imdsUrl: string;
let sts: FakeSts;
let imds: FakeImds;
let logText = '';
/** Every token a task was handed during the test, for the leak check. */
const tokens: string[] = [];

const toolsPresent = await haveTools();

t.before(async () => {
  if (!toolsPresent) return;
  const { useHarness } = await import('../harness/index.js');
  h = await useHarness(t);
  // The host: a namespace of its own, with only lo until the driver adds task veths.
  hostNs = `tt-mdhost-${randomBytes(3).toString('hex')}`;
  await run(['ip', 'netns', 'add', hostNs]);
  t.teardown(() => runCommand(['ip', 'netns', 'del', hostNs], { allowFailure: true }));
  await inNs(hostNs, ['ip', 'link', 'set', 'lo', 'up']);

  sts = new FakeSts({ clock: Date.now, hostAccessKeyId: HOST_KEY.id });
  stsUrl = await sts.start();
  t.teardown(() => sts.stop());
  imds = new FakeImds();
  imdsUrl = await imds.start();
  t.teardown(() => imds.stop());
  sts.setRole(ROLE_A, 'ok');
  sts.setRole(ROLE_B, 'ok');

  // The SDK's default chain signs AssumeRole with these; set, it never looks further (no IMDS).
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

  const metadataProxy = {
    enabled: true,
    listen: { hosts: ['0.0.0.0', '::'], port: 8169 },
    upstream: { url: imdsUrl, timeoutMs: 1_000 },
    placement: { region: 'eu-test-1', availabilityZone: 'eu-test-1a', availabilityZoneId: 'eut1-az1' },
    sts: { region: 'eu-test-1', endpoint: stsUrl, maxAttempts: 1, requestTimeoutMs: 2_000, retryIntervalSeconds: 1, refreshCheckIntervalSeconds: 1 },
  };
  // Test traffic stays on loopback: never the real STS or IMDS.
  if (!isLoopbackUrl(metadataProxy.upstream.url) || !isLoopbackUrl(metadataProxy.sts.endpoint)) throw new Error('STS and the upstream IMDS must be loopback fakes');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString('utf8');
      done();
    },
  });
  const open = { ingress: [{ protocol: 'tcp', cidrs: ['0.0.0.0/0', '::/0'] }, { protocol: 'icmp', cidrs: ['0.0.0.0/0', '::/0'] }], egress: 'allow-all' };
  ex = await startTestExecutor(
    t,
    h,
    {
      network: {
        driver: 'local',
        local: { hostNetns: hostNs, ipv4Cidr: POOL4, ipv6Cidr: POOL6, bandwidthMbpsTotal: 1000, securityGroups: { 'sg-open': open }, defaultSecurityGroups: ['sg-open'] },
      },
      metadataProxy,
    },
    [],
    createLogger('debug', sink),
  );
});

/** Each test ends with no container of the executor left. */
const test = (name: string, fn: (t: Test) => Promise<void>, skip: string | false = false): void => {
  t.test(name, { skip: toolsPresent ? skip : 'needs root, ip, nft, nsenter and curl' }, async (t) => {
    await fn(t);
    t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container left behind');
  });
};

const busybox = (extra: ContainerInfo): ContainerInfo => ({
  fullyQualifiedImage: h.images.busyboxRepo,
  process: { entrypoint: ['/bin/sh', '-c'], command: ['sleep 120'] },
  ...extra,
});

interface RunningTask {
  readonly taskId: string;
  readonly containerId: string;
  readonly ipv4: string;
  readonly ipv6: string | undefined;
  /** A shell command inside the task container; resolves with stdout+stderr and the exit code. */
  sh(script: string): Promise<{ out: string; code: number }>;
}

const launch = async (prefix: string, info: ContainerInfo): Promise<RunningTask> => {
  const taskId = uniqueTaskId(prefix);
  await ex.launch({ taskId, containerInfo: busybox(info) });
  const updates = await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const network = updates.find((u) => u.network?.ipv4Address)?.network;
  const task = await ex.get(taskId);
  if (network?.ipv4Address === undefined || network.ipv4Address === '') throw new Error(`${taskId} has no address`);
  return {
    taskId,
    containerId: task.containerId ?? '',
    ipv4: network.ipv4Address,
    ipv6: network.ipv6Address === '' || network.ipv6Address === undefined ? undefined : network.ipv6Address,
    sh: async (script) => {
      const r = await h.docker(['exec', task.containerId ?? '', 'sh', '-c', `{ ${script}; } 2>&1`], { allowFailure: true });
      return { out: r.stdout, code: r.code };
    },
  };
};

const end = async (task: RunningTask): Promise<void> => {
  await ex.kill(task.taskId, 0);
  await ex.waitForState(task.taskId, 'terminal');
};

/** busybox wget has no PUT: the IMDSv2 token is asked for with a raw HTTP/1.0 request through nc. */
const TOKEN_PUT = `printf 'PUT /latest/api/token HTTP/1.0\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 300\\r\\n\\r\\n' | nc 169.254.169.254 80 | tail -n1`;
const get = (path: string, token?: string, host = '169.254.169.254'): string =>
  `wget -q -O- ${token === undefined ? '' : `--header 'X-aws-ec2-metadata-token: ${token}' `}http://${host}${path}`;

const tokenOf = async (task: RunningTask): Promise<string> => {
  const { out } = await task.sh(TOKEN_PUT);
  const token = out.trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) throw new Error(`no token for ${task.taskId}: ${out}`);
  tokens.push(token);
  return token;
};

/** The real AWS SDK's IMDS credential provider, run as root in the task's network namespace, at its default endpoint. */
const SDK_CLIENT = `
import { fromInstanceMetadata } from '@smithy/credential-provider-imds';
const c = await fromInstanceMetadata({ timeout: 2000, maxRetries: 0, ec2MetadataV1Disabled: true })();
console.log(JSON.stringify({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }));
`;

const sdkCredentialsIn = async (task: RunningTask): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> => {
  const pid = (await h.docker(['inspect', '-f', '{{.State.Pid}}', task.containerId])).stdout.trim();
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  const child = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', SDK_CLIENT], {
    cwd: ROOT,
    env: { ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://169.254.169.254' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`SDK client in ${task.taskId}'s namespace failed (${code}): ${err}`);
  return JSON.parse(out) as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
};

/** Polls the task's status history for a message. */
const statusMessage = async (taskId: string, pattern: RegExp, timeoutMs = 15_000): Promise<{ state: string; message: string; last: string }> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await ex.get(taskId);
    const hit = task.history.find((u) => pattern.test(u.message ?? ''));
    if (hit !== undefined) return { state: hit.state ?? '', message: hit.message ?? '', last: task.lastUpdate?.message ?? '' };
    if (Date.now() > deadline) throw new Error(`no status message ${pattern} for ${taskId}; saw ${task.history.map((u) => u.message).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** The test's host namespace holds lo and task devices only: nothing a task sends can leave it. */
const noWayOut = async (t: Test, ns: string): Promise<void> => {
  const links = (JSON.parse(await inNs(ns, ['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
  t.ok(links.every((l) => l === 'lo' || /^t[xi][0-9a-f]{12}$/.test(l)), `the host namespace holds only lo and task devices: ${links.join(' ')}`);
};

const attached = (): string[] => (ex.executor.metadata?.directory.tasks() ?? []).map((i) => i.taskId).sort();

test('the redirect is loaded in the host namespace, which has no way out', async (t) => {
  const links = (JSON.parse(await inNs(hostNs, ['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
  t.same(links, ['lo'], 'only lo before any task: nothing can leave the test namespaces');
  const ruleset = await inNs(hostNs, ['nft', 'list', 'table', 'inet', 'titus_metadata']);
  t.match(ruleset, /ip daddr 169\.254\.169\.254 tcp dport 80 redirect to :8169/);
  t.match(ruleset, /ip6 daddr fd00:ec2::254 tcp dport 80 redirect to :8169/);
  const listening = await inNs(hostNs, ['ss', '-Hltn', 'sport', '= :8169']);
  t.match(listening, /0\.0\.0\.0:8169/, 'the proxy listens in the host namespace (IPv4)');
  t.match(listening, /\[::\]:8169/, 'and IPv6');
  const own = await run(['ss', '-Hltn', 'sport', '= :8169']);
  t.equal(own.trim(), '', 'and not in the executor\'s own namespace');
});

test('two tasks with different roles each read their own identity and only their own credentials, from inside their containers', async (t) => {
  const a = await launch('md-a', {
    iamProfile: ROLE_A,
    passthroughAttributes: { 'titusParameter.agent.assignIPv6Address': 'true', 'titusParameter.agent.imds.requireToken': 'true' },
  });
  const b = await launch('md-b', { iamProfile: ROLE_B });
  t.same(attached(), [a.taskId, b.taskId].sort(), 'both attached to the proxy');
  await noWayOut(t, hostNs);

  // A requires IMDSv2 (passthrough attribute): no token, no answer.
  const v1 = await a.sh(get('/latest/meta-data/instance-id'));
  t.not(v1.code, 0, 'A without a token is refused');
  t.match(v1.out, /401/);
  const tokenA = await tokenOf(a);
  t.equal((await a.sh(get('/latest/meta-data/instance-id', tokenA))).out, a.taskId, 'A is known by its source address: instance-id is its task id');
  t.equal((await a.sh(get('/latest/meta-data/local-ipv4', tokenA))).out, a.ipv4);
  t.equal((await a.sh(get('/latest/meta-data/iam/security-credentials/', tokenA))).out, 'e2e-alpha', 'A sees only its role');
  const credsA = JSON.parse((await a.sh(get('/latest/meta-data/iam/security-credentials/e2e-alpha', tokenA))).out) as Record<string, string>;
  const issuedA = sts.latestFor(`titus-${a.taskId}`);
  t.match(credsA, { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: issuedA?.accessKeyId, SecretAccessKey: issuedA?.secretAccessKey, Token: issuedA?.sessionToken });
  t.equal(issuedA?.roleArn, ROLE_A, 'assumed A\'s role for A');
  t.ok(a.ipv6, 'A has IPv6');
  t.equal((await a.sh(get('/latest/meta-data/instance-id', tokenA, '[fd00:ec2::254]'))).out, a.taskId, 'over IPv6 at [fd00:ec2::254] too');
  t.equal((await a.sh(get('/latest/meta-data/ipv6', tokenA, '[fd00:ec2::254]'))).out, a.ipv6);

  // B allows IMDSv1 (the host default).
  t.equal((await b.sh(get('/latest/meta-data/instance-id'))).out, b.taskId, 'B reads its own instance-id without a token');
  t.equal((await b.sh(get('/latest/meta-data/iam/security-credentials/'))).out, 'e2e-bravo');
  const credsB = JSON.parse((await b.sh(get('/latest/meta-data/iam/security-credentials/e2e-bravo'))).out) as Record<string, string>;
  const issuedB = sts.latestFor(`titus-${b.taskId}`);
  t.equal(credsB['AccessKeyId'], issuedB?.accessKeyId, 'B gets B\'s credentials');
  t.equal(issuedB?.roleArn, ROLE_B);
  t.not(credsA['AccessKeyId'], credsB['AccessKeyId']);

  // No way for B to be A: not by naming A's role, not with A's token, not with headers.
  const otherRole = await b.sh(get('/latest/meta-data/iam/security-credentials/e2e-alpha'));
  t.not(otherRole.code, 0, 'B asking for A\'s role name gets nothing');
  t.match(otherRole.out, /404/);
  t.notMatch(otherRole.out, issuedA?.accessKeyId ?? '-');
  const stolen = await b.sh(get('/latest/meta-data/iam/security-credentials/e2e-bravo', tokenA));
  t.match(stolen.out, /401/, 'A\'s token presented by B is refused');
  const spoofed = await b.sh(`wget -q -O- --header 'X-Forwarded-For: ${a.ipv4}' --header 'X-Real-IP: ${a.ipv4}' http://169.254.169.254/latest/meta-data/instance-id`);
  t.equal(spoofed.out, b.taskId, 'headers do not change who B is');
  // Even with A's address on its own interface (root in B's namespace: more than a task can do), B's packets
  // from that address are dropped by the anti-spoofing rules before they reach the proxy.
  const pidB = (await h.docker(['inspect', '-f', '{{.State.Pid}}', b.containerId])).stdout.trim();
  const inB = (argv: string[]) => runCommand(['nsenter', `--net=/proc/${pidB}/ns/net`, '--', ...argv], { timeoutMs: 15_000, allowFailure: true });
  await inB(['ip', 'addr', 'add', `${a.ipv4}/32`, 'dev', 'eth0']);
  const forged = await inB(['curl', '-sS', '--max-time', '3', '--interface', a.ipv4, 'http://169.254.169.254/latest/meta-data/instance-id']);
  await inB(['ip', 'addr', 'del', `${a.ipv4}/32`, 'dev', 'eth0']);
  t.not(forged.code, 0, `a connection from A's address out of B's namespace gets no answer (${forged.stderr.trim()})`);
  t.notMatch(forged.stdout, a.taskId);

  // The real AWS SDK, in A's network namespace, at its default endpoint 169.254.169.254 (IMDSv2 only).
  const sdk = await sdkCredentialsIn(a);
  t.same(sdk, { accessKeyId: issuedA?.accessKeyId, secretAccessKey: issuedA?.secretAccessKey, sessionToken: issuedA?.sessionToken }, 'the AWS SDK next to A gets A\'s role credentials');

  // Only port 80 is redirected: nothing else at 169.254.169.254 answers, and the host's IMDS is never reached.
  const port81 = await a.sh('timeout 5 nc -w 2 169.254.169.254 81 </dev/null; echo "rc=$?"');
  t.notMatch(port81.out, /rc=0/, `169.254.169.254:81 goes nowhere (${port81.out.trim()})`);
  const wget81 = await a.sh('timeout 5 wget -q -O- http://169.254.169.254:81/latest/meta-data/instance-id');
  t.not(wget81.code, 0, 'wget to port 81 gets nothing');
  t.same(imds.requests, [], 'the host\'s instance metadata service was never asked anything');
  t.same(
    sts.calls.map((c) => [c.roleArn, c.sessionName, c.signedWithAccessKey]).sort(),
    [
      [ROLE_A, `titus-${a.taskId}`, HOST_KEY.id],
      [ROLE_B, `titus-${b.taskId}`, HOST_KEY.id],
    ].sort(),
    'one AssumeRole per task, at attach, signed with the host\'s key',
  );

  await end(a);
  await end(b);
  t.same(attached(), [], 'both detached when they ended');
});

test('a role that cannot be assumed is reported in the task\'s status, and so is its recovery', async (t) => {
  const c = await launch('md-denied', { iamProfile: ROLE_DENIED });
  t.teardown(() => end(c).catch(() => undefined));
  const denied = await statusMessage(c.taskId, /^IAM role .* cannot be assumed/);
  t.equal(denied.state, 'TASK_STATE_RUNNING', 'a RUNNING update');
  t.match(denied.message, `IAM role ${ROLE_DENIED} cannot be assumed: AccessDenied: User is not authorized to perform: sts:AssumeRole`);
  const task = await ex.get(c.taskId);
  t.equal(task.state, 'TASK_STATE_RUNNING', 'the task keeps running');
  t.ok(task.lastUpdate?.network?.ipv4Address, 'the update still carries the network');
  const doc = JSON.parse((await c.sh(get('/latest/meta-data/iam/security-credentials/e2e-not-trusted'))).out) as Record<string, string>;
  t.equal(doc['Code'], 'AssumeRoleUnauthorizedAccess', 'inside the task: IMDS\' error shape, no keys');
  t.notOk('AccessKeyId' in doc);

  sts.setRole(ROLE_DENIED, 'ok');
  const back = await statusMessage(c.taskId, /^IAM credentials available again/);
  t.equal(back.message, `IAM credentials available again for role ${ROLE_DENIED}`);
  const creds = JSON.parse((await c.sh(get('/latest/meta-data/iam/security-credentials/e2e-not-trusted'))).out) as Record<string, string>;
  t.equal(creds['AccessKeyId'], sts.latestFor(`titus-${c.taskId}`)?.accessKeyId, 'and the task gets credentials');
  const history = (await ex.get(c.taskId)).history.filter((u) => /IAM/.test(u.message ?? '')).map((u) => u.message);
  t.equal(history.length, 2, 'reported once each, not per retry');
  await end(c);
});

test('logs carry no credential or token; stopping the executor removes the redirect', async (t) => {
  const secrets = [...sts.issued.flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]), ...tokens, HOST_KEY.secret];
  t.ok(secrets.length > 6, `${secrets.length} secrets issued`);
  t.match(logText, /metadata proxy serving tasks at 169\.254\.169\.254:80/);
  t.match(logText, /task attached to the metadata proxy/);
  t.same(
    secrets.filter((s) => logText.includes(s)),
    [],
    'none in the logs',
  );
  await ex.executor.stop();
  const tables = await inNs(hostNs, ['nft', 'list', 'tables']);
  t.notMatch(tables, /titus_metadata/, 'no nft table left');
  t.equal((await inNs(hostNs, ['ss', '-Hltn', 'sport', '= :8169'])).trim(), '', 'nothing listens any more');
});

test('a task that outlives an executor crash keeps its identity and credentials; released when it exits', async (t) => {
  // The executor as a real child process (`titus-executor serve`), SIGKILLed with a task running, then restarted.
  const dir = mkdtempSync(join(tmpdir(), 'titus-md-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ns = `tt-mdrest-${randomBytes(3).toString('hex')}`;
  await run(['ip', 'netns', 'add', ns]);
  t.teardown(() => runCommand(['ip', 'netns', 'del', ns], { allowFailure: true }));
  await inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  const executorId = `md-restart-${h.runId}`;
  const proxyConfig = {
    enabled: true,
    listen: { hosts: ['0.0.0.0'], port: 8169 },
    upstream: { url: imdsUrl, timeoutMs: 1_000 },
    placement: { region: 'eu-test-1', availabilityZone: 'eu-test-1a', availabilityZoneId: 'eut1-az1' },
    sts: { region: 'eu-test-1', endpoint: stsUrl, maxAttempts: 1, requestTimeoutMs: 2_000 },
  };
  if (!isLoopbackUrl(proxyConfig.upstream.url) || !isLoopbackUrl(proxyConfig.sts.endpoint)) throw new Error('STS and the upstream IMDS must be loopback fakes');
  const serve = serveProcesses(
    t,
    dir,
    {
      executorId,
      docker: { host: h.dockerHost },
      runTaskDir: join(dir, 'run-task'),
      network: { driver: 'local', local: { hostNetns: ns, ipv4Cidr: '198.18.42.0/24', bandwidthMbpsTotal: 1000, leaseFile: join(dir, 'leases.json'), defaultSecurityGroups: ['sg-open'], securityGroups: { 'sg-open': { egress: 'allow-all' } } } },
      metadataProxy: proxyConfig,
    },
    { AWS_ACCESS_KEY_ID: HOST_KEY.id, AWS_SECRET_ACCESS_KEY: HOST_KEY.secret, AWS_EC2_METADATA_DISABLED: 'true' },
  );
  const proxyStatus = async (c: TitusExecutorClient): Promise<string> => (await call(c.GetHostResources.bind(c), {})).status.find((s) => s.startsWith('metadata proxy:')) ?? '';
  const inTask = async (containerId: string, script: string): Promise<string> => (await h.docker(['exec', containerId, 'sh', '-c', `{ ${script}; } 2>&1`], { allowFailure: true })).stdout;

  const first = await serve.start();
  const taskId = uniqueTaskId('md-survivor');
  await call(first.client.LaunchTask.bind(first.client), { taskId, containerInfo: busybox({ iamProfile: ROLE_A }) });
  let containerId = '';
  for (let i = 0; i < 200 && containerId === ''; i++) {
    const task = await call(first.client.GetTask.bind(first.client), { taskId });
    if (task.state === 'TASK_STATE_RUNNING') containerId = task.containerId ?? '';
    else await new Promise((r) => setTimeout(r, 100));
  }
  t.not(containerId, '', 'the task runs');
  await noWayOut(t, ns);
  t.equal(await inTask(containerId, get('/latest/meta-data/instance-id')), taskId, 'before the crash');
  t.match(await proxyStatus(first.client), new RegExp(`^metadata proxy: 1 task attached, 0\\.0\\.0\\.0:8169 in netns ${ns}$`), 'GetHostResources');
  await first.crash();
  t.not(await inTask(containerId, 'timeout 5 wget -q -O- http://169.254.169.254/latest/meta-data/instance-id; echo "rc=$?"'), taskId, 'nobody answers while the executor is down');

  const second = await serve.start();
  t.equal(await inTask(containerId, get('/latest/meta-data/instance-id')), taskId, 'the restarted executor knows the task by its address again');
  const creds = JSON.parse(await inTask(containerId, get('/latest/meta-data/iam/security-credentials/e2e-alpha'))) as Record<string, string>;
  const issued = sts.latestFor(`titus-${taskId}`);
  t.equal(creds['AccessKeyId'], issued?.accessKeyId, 'and serves its role\'s credentials, assumed again at recovery');
  t.equal(sts.calls.filter((c) => c.sessionName === `titus-${taskId}`).length, 2, 'one AssumeRole per executor life');
  t.match(await proxyStatus(second.client), /^metadata proxy: 1 task attached/);

  // The task ends (its container goes); the restarted executor detaches it.
  await h.docker(['rm', '-f', containerId]);
  for (let i = 0; i < 100 && !(await proxyStatus(second.client)).startsWith('metadata proxy: 0 tasks'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(await proxyStatus(second.client), /^metadata proxy: 0 tasks attached/, 'detached when its container exited');
  for (let i = 0; i < 100 && (await containersWithLabel(h, 'titus.executor.id', executorId)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId), [], 'no container of that executor left (its network sandbox went with the task)');
  second.client.close();
  const stopped = new Promise((r) => second.child.once('exit', r));
  second.child.kill('SIGTERM');
  await stopped;
  t.notMatch(await inNs(ns, ['nft', 'list', 'tables']), /titus_metadata/, 'a stopped executor leaves no redirect');
}, built ? false : 'needs `npm run build` (npm test builds first)');
