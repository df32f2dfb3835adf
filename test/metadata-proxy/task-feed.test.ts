/**
 * The glue between the task core and the proxy's directory
 * (src/parts/metadata-directory.ts), against the real TaskManager with a fake
 * engine (stands for dockerd) and a fake network part (stands for the local
 * driver: it grants an address and records what the directory held when it
 * let go of it). Also the executor's checks of `metadataProxy`, and listening
 * inside a network namespace (root only).
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { silentLogger } from '../../src/common/log.js';
import { parseConfig } from '../../src/config/config.js';
import { listenInNetns } from '../../src/metadata-proxy/netns-listen.js';
import { InMemoryTaskDirectory } from '../../src/metadata-proxy/task-directory.js';
import type { ContainerExit, ContainerRuntime, ContainerSummary } from '../../src/runtime/container-runtime.js';
import type { ContainerSpec } from '../../src/runtime/container-spec.js';
import { ImageReadyEngine } from '../helpers/until-stopped-engine.js';
import { LABEL } from '../../src/runtime/labels.js';
import { TaskMetadataDirectory, requireTokenOf } from '../../src/parts/metadata-directory.js';
import { checkMetadataProxyConfig } from '../../src/parts/metadata-service.js';
import { TaskManager } from '../../src/task/task-manager.js';
import type { TaskPart } from '../../src/task/task-part.js';
import type { ContainerInfo } from '../../src/task/container-info.js';
import { startProxyHarness, taskInfo } from './fixtures/proxy-harness.js';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
}
const deferred = <T>(): Deferred<T> => {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
};

/** Stands for dockerd: containers run until `exit(name)`. */
class FakeEngine extends ImageReadyEngine implements ContainerRuntime {
  readonly exits = new Map<string, Deferred<ContainerExit>>();
  onStart: (name: string) => void = () => undefined;
  containers: ContainerSummary[] = [];
  async createContainer(spec: ContainerSpec): Promise<string> {
    this.exits.set(spec.name, deferred());
    return spec.name;
  }
  async startContainer(id: string): Promise<void> {
    this.onStart(id);
  }
  waitContainer(id: string): Promise<ContainerExit> {
    return this.exits.get(id)?.promise ?? Promise.resolve({ exitCode: 0, oomKilled: false });
  }
  exit(id: string): void {
    this.exits.get(id)?.resolve({ exitCode: 0, oomKilled: false });
  }
  async stopContainer(id: string): Promise<void> {
    this.exit(id);
  }
  async removeContainer(): Promise<void> {}
  async containerOutput(): Promise<string> {
    return '';
  }
  async listContainers(): Promise<ContainerSummary[]> {
    return this.containers;
  }
}

/** Stands for the network part: 198.18.77.<n> per task, and what the directory held at release. */
class FakeNetworkPart implements TaskPart {
  readonly name = 'network';
  readonly heldAtRelease = new Map<string, boolean>();
  private next = 2;
  readonly addresses = new Map<string, string>();
  constructor(private readonly directory: InMemoryTaskDirectory) {}
  async acquire(launch: { taskId: string }) {
    const ipv4Address = this.addresses.get(launch.taskId) ?? `198.18.77.${this.next++}`;
    this.addresses.set(launch.taskId, ipv4Address);
    return { network: { isRoutableIp: false, ipv4Address, hostname: launch.taskId, networkMode: 'Ipv4Only' } };
  }
  async release(taskId: string): Promise<void> {
    this.heldAtRelease.set(taskId, this.directory.taskById(taskId) !== undefined);
  }
}

// Capacity for the four 1-CPU tasks of a test, whatever machine runs it.
const config = parseConfig({ host: { cpu: 64, memoryMb: 65536 } });
const launchSpec = (taskId: string, containerInfo: ContainerInfo = {}) => ({
  taskId,
  containerInfo: { imageName: 'org/app', ...containerInfo },
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
});

const setup = () => {
  const engine = new FakeEngine();
  const directory = new InMemoryTaskDirectory();
  const feed = new TaskMetadataDirectory(directory, silentLogger());
  const network = new FakeNetworkPart(directory);
  const tasks = new TaskManager({ runtime: engine, config, log: silentLogger(), parts: [network, feed] });
  feed.connect(tasks);
  return { engine, directory, feed, network, tasks };
};

const until = async (what: string, check: () => boolean, timeoutMs = 2000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

t.test('attached before the container starts, detached before the address is released', async (t) => {
  const { engine, directory, network, tasks } = setup();
  const atStart = new Map<string, unknown>();
  engine.onStart = (id) => atStart.set(id, directory.taskById(id));
  tasks.launch(launchSpec('t-role', { iamProfile: 'arn:aws:iam::111122223333:role/app', passthroughAttributes: { 'titusParameter.agent.imds.requireToken': 'TRUE' } }));
  tasks.launch(launchSpec('t-none', { passthroughAttributes: { 'titusParameter.agent.imds.requireToken': 'maybe' } }));
  await until('both running', () => tasks.list({ includeTerminal: false, states: ['RUNNING'] }).length === 2);
  t.match(atStart.get('t-role'), { taskId: 't-role', ipv4Address: '198.18.77.2', iamRoleArn: 'arn:aws:iam::111122223333:role/app', requireToken: true, hostname: 't-role' }, 'in the directory when the container starts');
  t.notOk((atStart.get('t-role') as { startedAtMs?: number }).startedAtMs, 'not started yet then');
  const role = directory.taskById('t-role');
  t.ok(role?.startedAtMs, 'the start time is added at RUNNING');
  t.equal(role?.acceptedAtMs, tasks.get('t-role').acceptedAtMs);
  t.equal(role?.image, tasks.get('t-role').image);
  t.same(role?.containerInfo, tasks.get('t-role').containerInfo, 'the validated ContainerInfo, for the signed identity');
  const none = directory.taskById('t-none');
  t.equal(none?.iamRoleArn, undefined, 'no role, no iam/');
  t.equal(none?.requireToken, undefined, 'an unclear attribute leaves it to the host');
  t.equal(directory.taskByAddress('198.18.77.3')?.taskId, 't-none');

  engine.exit('t-role');
  tasks.kill('t-none', 'test', 0);
  await tasks.drain();
  t.same(Object.fromEntries(network.heldAtRelease), { 't-role': false, 't-none': false }, 'detached before the network part let go of each address');
  t.same(directory.tasks(), [], 'nothing attached');
});

t.test('tasks that never got a network are never attached, and a failed launch detaches nothing else', async (t) => {
  const engine = new FakeEngine();
  const directory = new InMemoryTaskDirectory();
  const feed = new TaskMetadataDirectory(directory, silentLogger());
  const tasks = new TaskManager({ runtime: engine, config, log: silentLogger(), parts: [feed] });
  feed.connect(tasks);
  tasks.launch(launchSpec('t-no-net'));
  await until('running', () => tasks.get('t-no-net').state === 'RUNNING');
  t.same(directory.tasks(), []);
  engine.exit('t-no-net');
  await tasks.drain();
  t.equal(feed.capacity().status, 'metadata proxy: 0 tasks attached');
});

t.test('role trouble goes into the status after RUNNING, once, and so does recovery', async (t) => {
  const { engine, feed, tasks } = setup();
  const role = 'arn:aws:iam::111122223333:role/denied';
  const detail = { roleArn: role, stsCode: 'AccessDenied', reason: 'AccessDenied: not authorized' };
  // STS answers while the task is still starting: the error waits for RUNNING.
  engine.onStart = (id) => feed.events.onCredentialError?.(id, 'cannot assume …', detail);
  const seen: string[] = [];
  tasks.subscribe((u) => seen.push(`${u.sequence} ${u.state} ${u.message}`));
  tasks.launch(launchSpec('t-denied', { iamProfile: role }));
  await until('reported', () => tasks.get('t-denied').lastUpdate.message.startsWith('IAM role'));
  const view = tasks.get('t-denied');
  t.equal(view.lastUpdate.state, 'RUNNING');
  t.equal(view.lastUpdate.message, `IAM role ${role} cannot be assumed: AccessDenied: not authorized`);
  t.equal(view.lastUpdate.network?.ipv4Address, '198.18.77.2', 'the update carries the network like every other');
  const messages = view.history.map((u) => u.message);
  t.same(messages.slice(-3), ['starting container', 'main container is now running', `IAM role ${role} cannot be assumed: AccessDenied: not authorized`]);
  const sequences = seen.map((s) => Number(s.split(' ')[0]));
  t.same(sequences, [...sequences].sort((a, b) => a - b), 'subscribers see updates in sequence order');
  // The same error again (a retry): nothing new. Recovery: one update.
  feed.events.onCredentialError?.('t-denied', 'cannot assume …', detail);
  feed.events.onCredentialRecovered?.('t-denied', { roleArn: role });
  await until('recovered', () => tasks.get('t-denied').lastUpdate.message.startsWith('IAM credentials'));
  t.equal(tasks.get('t-denied').lastUpdate.message, `IAM credentials available again for role ${role}`);
  t.equal(tasks.get('t-denied').history.filter((u) => u.message.startsWith('IAM')).length, 2, 'the error once, then the recovery');
  // An error for a task that ended is dropped; annotate refuses non-RUNNING tasks.
  engine.exit('t-denied');
  await tasks.drain();
  feed.events.onCredentialError?.('t-denied', 'x', detail);
  await new Promise((r) => setTimeout(r, 10));
  t.equal(tasks.get('t-denied').history.filter((u) => u.message.startsWith('IAM')).length, 2);
  t.equal(tasks.annotate('t-denied', 'late'), false, 'annotate publishes nothing for a task that is not RUNNING');
});

t.test('the part needs only the status bus: the view and the status note come with acquire()', async (t) => {
  const engine = new FakeEngine();
  const directory = new InMemoryTaskDirectory();
  const feed = new TaskMetadataDirectory(directory, silentLogger());
  const tasks = new TaskManager({ runtime: engine, config, log: silentLogger(), parts: [new FakeNetworkPart(directory), feed] });
  // Only a subscription: no get(), no annotate(), nothing that calls back into the TaskManager.
  feed.connect({ subscribe: (listener) => tasks.subscribe(listener) });
  const role = 'arn:aws:iam::111122223333:role/bus-only';
  tasks.launch(launchSpec('t-bus', { iamProfile: role }));
  await until('running', () => tasks.get('t-bus').state === 'RUNNING');
  t.match(directory.taskById('t-bus'), { taskId: 't-bus', ipv4Address: '198.18.77.2', iamRoleArn: role }, 'attached from the view handed over at acquire');
  t.ok(directory.taskById('t-bus')?.startedAtMs, 'with its start time at RUNNING');
  feed.events.onCredentialError?.('t-bus', 'cannot assume …', { roleArn: role, stsCode: 'AccessDenied', reason: 'denied' });
  await until('reported', () => tasks.get('t-bus').lastUpdate.message.startsWith('IAM role'));
  t.equal(tasks.get('t-bus').lastUpdate.message, `IAM role ${role} cannot be assumed: denied`, 'noted on the status through the handle');
  engine.exit('t-bus');
  await tasks.drain();
  t.same(directory.tasks(), [], 'detached');
});

t.test('an address still held by an ended or recovered task is taken over; a live task keeps its own', async (t) => {
  const { engine, directory, network, tasks, feed } = setup();
  // A task that outlived a restart holds 198.18.77.2 until its container exit is seen.
  engine.containers = [
    {
      id: 'old-container',
      name: 't-old',
      state: 'running',
      labels: {
        [LABEL.executor]: 'exec-1',
        [LABEL.role]: 'main',
        [LABEL.iamRole]: 'arn:aws:iam::111122223333:role/old',
        [LABEL.appName]: 'oldapp',
        [LABEL.networkAttachment]: JSON.stringify({ taskId: 't-old', driver: 'local', ipv4: '198.18.77.2', mac: '0e:11:22:33:44:55', hostInterface: 'txold', details: {} }),
      },
    },
    { id: 'sandbox', name: 'titus-sandbox-t-old', state: 'running', labels: { [LABEL.executor]: 'exec-1', [LABEL.role]: 'sandbox' } },
    {
      id: 'other-driver',
      name: 't-eni',
      state: 'running',
      labels: { [LABEL.executor]: 'exec-1', [LABEL.role]: 'main', [LABEL.networkAttachment]: JSON.stringify({ taskId: 't-eni', driver: 'aws-eni', ipv4: '10.0.0.9', hostInterface: '', details: {} }) },
    },
  ];
  engine.exits.set('old-container', deferred());
  t.same(await feed.recover(engine, 'exec-1', 'local'), ['t-old'], 'only the running main container of this driver');
  t.match(directory.taskById('t-old'), {
    ipv4Address: '198.18.77.2',
    mac: '0e:11:22:33:44:55',
    iamRoleArn: 'arn:aws:iam::111122223333:role/old',
    hostname: 't-old',
    partial: true,
    containerInfo: { iamProfile: 'arn:aws:iam::111122223333:role/old', appName: 'oldapp' },
  });
  // The network layer hands the same address to a new task: the new task wins.
  tasks.launch(launchSpec('t-new'));
  await until('running', () => tasks.get('t-new').state === 'RUNNING');
  t.equal(directory.taskByAddress('198.18.77.2')?.taskId, 't-new', 'taken over from the recovered task');
  t.equal(directory.taskById('t-old'), undefined);
  engine.exit('old-container'); // seen late: must not detach the new task
  await new Promise((r) => setTimeout(r, 10));
  t.equal(directory.taskByAddress('198.18.77.2')?.taskId, 't-new');
  // A (buggy) second grant of a live task's address: refused, fail closed.
  network.addresses.set('t-dup', '198.18.77.2');
  tasks.launch(launchSpec('t-dup'));
  await until('running', () => tasks.get('t-dup').state === 'RUNNING');
  t.equal(directory.taskByAddress('198.18.77.2')?.taskId, 't-new', 'the live task keeps its address');
  t.equal(directory.taskById('t-dup'), undefined, 'the duplicate is not attached (its requests get 403)');
  tasks.kill('t-new', 'test', 0);
  tasks.kill('t-dup', 'test', 0);
  await tasks.drain();
  t.same(directory.tasks(), []);
});

t.test('a recovered task is detached when its container exits; its identity document is not signed', async (t) => {
  const engine = new FakeEngine();
  const directory = new InMemoryTaskDirectory();
  const feed = new TaskMetadataDirectory(directory, silentLogger());
  engine.containers = [
    {
      id: 'c1',
      name: 't-r',
      state: 'running',
      labels: { [LABEL.role]: 'main', [LABEL.networkAttachment]: JSON.stringify({ taskId: 't-r', driver: 'local', ipv4: '198.18.77.9', hostInterface: 'x', details: {} }) },
    },
  ];
  engine.exits.set('c1', deferred());
  await feed.recover(engine, 'e', 'local');
  t.ok(directory.taskById('t-r'));
  engine.exit('c1');
  await until('detached', () => directory.taskById('t-r') === undefined);

  const h = await startProxyHarness(t);
  h.directory.attachTask({ ...taskInfo({ taskId: 'task-partial-1', address: '127.0.0.6' }, h.clock), partial: true });
  t.equal((await h.request('127.0.0.6', 'GET', '/nflx/v1/task-identity')).status, 503, 'no signed identity from partial knowledge');
  t.equal((await h.request('127.0.0.6', 'GET', '/nflx/v1/task-identity/public-key')).status, 200);
  t.equal((await h.request('127.0.0.6', 'GET', '/latest/meta-data/instance-id')).body.toString(), 'task-partial-1', 'the rest is served');
});

t.test('requireToken from the passthrough attribute', async (t) => {
  const of = (v?: string) => requireTokenOf({ containerInfo: v === undefined ? {} : { passthroughAttributes: { 'titusParameter.agent.imds.requireToken': v } } });
  t.same([of('true'), of(' False '), of(''), of('yes'), of()], [true, false, undefined, undefined, undefined]);
});

t.test('the executor refuses a metadata proxy that cannot work, saying why', async (t) => {
  const check = (raw: Record<string, unknown>) => () => checkMetadataProxyConfig(parseConfig(raw));
  t.doesNotThrow(check({}), 'off by default');
  t.throws(check({ metadataProxy: { enabled: true } }), { code: 'FAILED_PRECONDITION', message: /needs task networking: set network\.driver to local or aws-eni/ });
  // ENI tasks get the proxy inside their own namespaces (issue 17): no fixed host port needed.
  t.doesNotThrow(check({ metadataProxy: { enabled: true, listen: { port: 0 } }, network: { driver: 'aws-eni', awsEni: { subnetId: 's', instanceId: 'i' } } }));
  t.throws(check({ metadataProxy: { enabled: true, listen: { port: 0 } }, network: { driver: 'local' } }), { message: /must be a fixed port/ });
  t.doesNotThrow(check({ metadataProxy: { enabled: true }, network: { driver: 'local' } }));
});

const isRoot = process.getuid?.() === 0 && (await runCommand(['sh', '-c', 'command -v ip && command -v nsenter'], { allowFailure: true })).code === 0;

t.test('a socket bound inside a network namespace is served by this process, reachable only from there', { skip: isRoot ? false : 'needs root, ip and nsenter' }, async (t) => {
  const ns = `tt-mdlisten-${randomBytes(3).toString('hex')}`;
  await runCommand(['ip', 'netns', 'add', ns]);
  t.teardown(() => runCommand(['ip', 'netns', 'del', ns], { allowFailure: true }));
  await runCommand(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const server = await listenInNetns({ netnsPath: `/run/netns/${ns}`, host: '127.0.0.1', port: 0 });
  const { createServer } = await import('node:http');
  const http = createServer((_req, res) => res.end(`served by ${process.pid}`));
  await new Promise<void>((resolve) => http.listen(server, resolve));
  t.teardown(() => new Promise((r) => http.close(r)));
  const port = (http.address() as { port: number }).port;
  const inside = await runCommand(['ip', 'netns', 'exec', ns, 'curl', '-sS', '--max-time', '3', `http://127.0.0.1:${port}/`], { allowFailure: true });
  t.equal(inside.stdout, `served by ${process.pid}`, 'a client in the namespace reaches this process');
  // The same port number in this namespace is usually free (ECONNREFUSED), but another test's server may hold it.
  const outside = await new Promise<string>((resolve) => {
    const req = request({ host: '127.0.0.1', port, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
      res.on('error', () => resolve('another listener'));
    });
    req.on('timeout', () => req.destroy(new Error('another listener')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
  t.not(outside, `served by ${process.pid}`, `this process's own namespace has no such listener (${outside.slice(0, 40)})`);
  await t.rejects(listenInNetns({ netnsPath: `/run/netns/${ns}`, host: '127.0.0.1', port }), { message: /cannot listen on 127\.0\.0\.1:\d+ in network namespace .*EADDRINUSE/ }, 'a taken port is a clear error');
  await t.rejects(listenInNetns({ netnsPath: '/run/netns/tt-no-such-ns', host: '0.0.0.0', port: 0 }), { message: /cannot listen on 0\.0\.0\.0:0 in network namespace \/run\/netns\/tt-no-such-ns/ });
});
