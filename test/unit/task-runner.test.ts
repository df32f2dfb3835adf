/**
 * Failure paths of the task core. The fake below stands for the Docker Engine
 * (the ContainerRuntime seam) so that engine faults can be injected at each
 * step; the real engine paths are covered in test/runtime.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import type { ContainerExit, ContainerRuntime, ContainerSummary } from '../../src/runtime/container-runtime.js';
import type { ContainerSpec, ImageConfig } from '../../src/runtime/container-spec.js';
import { RuntimeError } from '../../src/runtime/runtime-errors.js';
import type { TaskPart } from '../../src/task/task-part.js';
import type { LaunchSpec } from '../../src/task/types.js';

type Step = 'pull' | 'create' | 'start' | 'wait';

class FakeEngine implements ContainerRuntime {
  readonly removed: string[] = [];
  readonly created: ContainerSpec[] = [];
  failAt: Partial<Record<Step, Error>> = {};
  exit: ContainerExit = { exitCode: 0, oomKilled: false };
  async version(): Promise<string> {
    return 'fake';
  }
  async findImage(): Promise<ImageConfig | undefined> {
    return { id: 'img', entrypoint: [], cmd: ['/bin/sh'], sizeBytes: 1 };
  }
  async pullImage(): Promise<void> {
    if (this.failAt.pull) throw this.failAt.pull;
  }
  async createContainer(spec: ContainerSpec): Promise<string> {
    if (this.failAt.create) throw this.failAt.create;
    this.created.push(spec);
    return `c-${spec.name}`;
  }
  async startContainer(): Promise<void> {
    if (this.failAt.start) throw this.failAt.start;
  }
  async waitContainer(): Promise<ContainerExit> {
    if (this.failAt.wait) throw this.failAt.wait;
    return this.exit;
  }
  async stopContainer(): Promise<void> {}
  async removeContainer(id: string): Promise<void> {
    this.removed.push(id);
  }
  async containerOutput(): Promise<string> {
    return '';
  }
  async listContainers(): Promise<ContainerSummary[]> {
    return [];
  }
}

const config = parseConfig({ docker: { pullAttempts: 3, pullBackoffMs: 1 } });
const spec = (taskId: string): LaunchSpec => ({
  taskId,
  containerInfo: { imageName: 'org/app' },
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
});

const runWith = async (engine: FakeEngine, parts: TaskPart[] = []): Promise<{ state: string; message: string; tasks: TaskManager }> => {
  const tasks = new TaskManager({ runtime: engine, config, log: silentLogger(), parts });
  tasks.launch(spec('t1'));
  await tasks.drain();
  const last = tasks.get('t1').lastUpdate;
  return { state: last.state, message: last.message, tasks };
};

t.test('engine errors become LOST, never a crash, and nothing is left', async (t) => {
  const engine = new FakeEngine();
  engine.failAt.create = new RuntimeError('engine', 'create exploded');
  const r = await runWith(engine);
  t.equal(r.state, 'LOST');
  t.match(r.message, /probably Titus bug.*create exploded/);

  const unreachable = new FakeEngine();
  unreachable.failAt.pull = new RuntimeError('engine-unavailable', 'socket gone');
  const u = await runWith(unreachable);
  t.equal(u.state, 'LOST', 'an unreachable engine after retries is LOST');

  const waitFails = new FakeEngine();
  waitFails.failAt.wait = new Error('stream reset');
  const w = await runWith(waitFails);
  t.equal(w.state, 'LOST');
  t.match(w.message, /Lost connection to runtime driver/);
  t.same(waitFails.removed, ['c-t1'], 'the started container is removed');

  const thrown = new FakeEngine();
  thrown.failAt.start = new TypeError('a bug');
  t.equal((await runWith(thrown)).state, 'LOST', 'even a programming error ends in LOST');
  t.same(thrown.removed, ['c-t1']);
});

t.test('task faults are FAILED with the right reason', async (t) => {
  const notFound = new FakeEngine();
  notFound.failAt.pull = new RuntimeError('image-not-found', 'manifest unknown');
  const r = await runWith(notFound);
  t.equal(r.state, 'FAILED');
  t.equal(r.tasks.get('t1').lastUpdate.reasonCode, 'invalidRequest');
  const badEp = new FakeEngine();
  badEp.failAt.start = new RuntimeError('bad-entrypoint', 'exec: "x": executable file not found');
  const b = await runWith(badEp);
  t.equal(b.state, 'FAILED');
  t.match(b.message, /bad entrypoint/);
  t.same(badEp.removed, ['c-t1'], 'the created container is removed');
  const oom = new FakeEngine();
  oom.exit = { exitCode: 137, oomKilled: true };
  t.match((await runWith(oom)).message, /OOMKilled/);
});

t.test('parts are released on every exit path, after their grants reach the container', async (t) => {
  const released: string[] = [];
  const part: TaskPart = {
    name: 'probe',
    acquire: async () => ({ env: { PROBE: '1' }, runtime: 'special' }),
    release: async (id) => void released.push(id),
  };
  const ok = new FakeEngine();
  await runWith(ok, [part]);
  t.equal(ok.created[0]?.env['PROBE'], '1');
  t.equal(ok.created[0]?.runtime, 'special');
  const failing = new FakeEngine();
  failing.failAt.create = new RuntimeError('engine', 'no');
  await runWith(failing, [part]);
  t.same(released, ['t1', 't1'], 'released after success and after failure');
  const refusing: TaskPart = { name: 'full', acquire: async () => Promise.reject(new Error('pool empty')), release: async (id) => void released.push(`full-${id}`) };
  const r = await runWith(new FakeEngine(), [refusing]);
  t.equal(r.state, 'LOST');
  t.ok(released.includes('full-t1'), 'released even when acquire failed');
});

t.test('a kill before the container starts prevents it', async (t) => {
  const engine = new FakeEngine();
  let releasePull!: () => void;
  engine.pullImage = () => new Promise<void>((r) => (releasePull = r));
  const tasks = new TaskManager({ runtime: engine, config, log: silentLogger() });
  tasks.launch(spec('t2'));
  await new Promise((r) => setImmediate(r));
  tasks.kill('t2', 'scaled down');
  releasePull();
  await tasks.drain();
  const v = tasks.get('t2');
  t.equal(v.state, 'KILLED');
  t.match(v.lastUpdate.message, /scaled down/);
  t.same(engine.created, [], 'no container was created');
  t.notOk(v.history.some((u) => u.state === 'RUNNING'));
});

/** An engine monitor the test drives: down, then back (reconnect). */
const fakeMonitor = () => {
  let up = true;
  const reconnectListeners = new Set<() => void>();
  let upWaiters: Array<() => void> = [];
  return {
    isUp: () => up,
    whenUp: () => (up ? Promise.resolve() : new Promise<void>((r) => upWaiters.push(r))),
    describeOutage: () => 'down (test)',
    onReconnect: (listener: () => void) => {
      reconnectListeners.add(listener);
      return () => void reconnectListeners.delete(listener);
    },
    goDown: () => void (up = false),
    comeBack: () => {
      up = true;
      for (const w of upWaiters) w();
      upWaiters = [];
      for (const l of [...reconnectListeners]) l();
    },
  };
};

t.test('a wait the engine never answers (it was SIGKILLed) is asked again when the engine is back; a kill during the outage is carried out', async (t) => {
  const engine = new FakeEngine();
  const monitor = fakeMonitor();
  const waits: Array<AbortSignal | undefined> = [];
  const stops: string[] = [];
  // The first wait of each container hangs, as one does when the engine dies after answering its headers.
  engine.waitContainer = (id = '', signal?: AbortSignal) => {
    waits.push(signal);
    if (waits.length <= 2) return new Promise<ContainerExit>(() => undefined);
    return Promise.resolve({ exitCode: id === 'c-killed' ? 137 : 143, oomKilled: false });
  };
  engine.stopContainer = async (id = '') => void stops.push(id);
  const tasks = new TaskManager({ runtime: engine, config, log: silentLogger(), engine: monitor });
  tasks.launch(spec('ended-by-engine'));
  tasks.launch(spec('killed'));
  for (let i = 0; i < 100 && waits.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  t.equal(waits.length, 2, 'both tasks wait on the engine');
  monitor.goDown();
  tasks.kill('killed', 'during the outage', 1);
  t.equal(tasks.get('killed').lastUpdate.state, 'KILL_INITIATED');
  stops.length = 0; // the stop tried during the outage failed (the engine was gone)
  monitor.comeBack();
  const settled = await Promise.race([tasks.drain().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000).unref())]);
  t.ok(settled, 'both tasks end once the engine is back');
  t.ok(waits.slice(0, 2).every((s) => s?.aborted === true), 'the waits made of the engine that died are dropped');
  t.match(tasks.get('ended-by-engine').lastUpdate, { state: 'FAILED', exit: { exitCode: 143 } }, 'the exit code the engine reports now');
  t.match(tasks.get('killed').lastUpdate, { state: 'KILLED' });
  t.same(stops, ['c-killed'], 'the kill is sent again to the engine that came back');
  t.equal(tasks.get('ended-by-engine').history.filter((u) => u.state === 'FAILED').length, 1, 'one terminal update');
});
