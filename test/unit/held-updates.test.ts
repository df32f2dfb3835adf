/**
 * A status update is streamed only once the store has it. With the store
 * refusing writes (ENOSPC), a task that ends keeps its container and holds
 * its terminal update; once the store takes writes again the update is
 * streamed with a fresh sequence, and an executor restarted in between finds
 * the task's real end, never LOST, with no sequence handed out twice.
 * The engine is a fake (the ContainerRuntime seam); the store is real files.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import { TaskStore } from '../../src/task/task-store.js';
import { RecordWriteError } from '../../src/task/record-write-error.js';
import type { TaskRecord } from '../../src/task/task-record.js';
import type { ContainerExit, ContainerRuntime, ContainerSummary } from '../../src/runtime/container-runtime.js';
import type { ContainerSpec } from '../../src/runtime/container-spec.js';
import { ImageReadyEngine } from '../helpers/until-stopped-engine.js';
import type { StatusUpdate } from '../../src/task/types.js';

/** A real store whose writes can be made to fail as a full disk does. */
class FullableStore extends TaskStore {
  full = false;
  failures = 0;
  override save(record: TaskRecord): void {
    if (this.full) {
      this.failures++;
      throw new RecordWriteError(record.launch.taskId, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    }
    super.save(record);
  }
  /** The group commit's write (TaskStore.saveMany) meets the same full disk. */
  override async saveMany(records: readonly TaskRecord[]): Promise<Array<RecordWriteError | undefined>> {
    if (!this.full) return super.saveMany(records);
    this.failures += records.length;
    return records.map((r) => new RecordWriteError(r.launch.taskId, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })));
  }
}

/** One container per task; it exits when the test says so, and is kept until removed. */
class FakeEngine extends ImageReadyEngine implements ContainerRuntime {
  readonly containers = new Map<string, { state: 'created' | 'running' | 'exited'; exit?: ContainerExit; wake: Array<() => void> }>();
  readonly removed: string[] = [];
  async createContainer(spec: ContainerSpec): Promise<string> {
    this.containers.set(`c-${spec.name}`, { state: 'created', wake: [] });
    return `c-${spec.name}`;
  }
  async startContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c !== undefined) c.state = 'running';
  }
  async waitContainer(id: string): Promise<ContainerExit> {
    const c = this.containers.get(id);
    if (c === undefined) throw new Error(`no container ${id}`);
    if (c.exit === undefined) await new Promise<void>((r) => c.wake.push(r));
    return c.exit as ContainerExit;
  }
  exitNow(id: string, exitCode: number): void {
    const c = this.containers.get(id);
    if (c === undefined) throw new Error(`no container ${id}`);
    c.exit = { exitCode, oomKilled: false };
    c.state = 'exited';
    for (const w of c.wake.splice(0)) w();
  }
  async stopContainer(): Promise<void> {}
  async removeContainer(id: string): Promise<void> {
    this.removed.push(id);
    this.containers.delete(id);
  }
  async containerOutput(): Promise<string> {
    return '';
  }
  async listContainers(): Promise<ContainerSummary[]> {
    return [...this.containers.entries()].map(([id, c]) => ({
      id,
      name: id.slice(2),
      state: c.state,
      labels: { 'titus.task_id': id.slice(2) },
    })) as unknown as ContainerSummary[];
  }
}

const config = parseConfig({ docker: { pullAttempts: 1, pullBackoffMs: 1 }, logs: { reserveMb: 0 } });
const launchOf = (taskId: string) => ({
  taskId,
  containerInfo: { imageName: 'org/app' },
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
};

const setup = (t: { teardown(fn: () => void): void }) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-held-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const engine = new FakeEngine();
  const open = () => {
    const store = new FullableStore(dir);
    const tasks = new TaskManager({ runtime: engine, config: { ...config, stateDir: dir }, log: silentLogger(), store });
    const streamed: StatusUpdate[] = [];
    tasks.subscribe((u) => streamed.push(u));
    return { store, tasks, streamed };
  };
  return { engine, open };
};

t.test('a terminal update the store refuses is held, with its container, until the store takes it', async (t) => {
  const { engine, open } = setup(t);
  const { store, tasks, streamed } = open();
  tasks.launch(launchOf('t1'));
  await until('RUNNING', () => tasks.get('t1').state === 'RUNNING');
  store.full = true;
  engine.exitNow('c-t1', 0);
  await until('the exit meets the full store', () => store.failures >= 2);
  await sleep(300);
  t.equal(tasks.get('t1').state, 'RUNNING', 'GetTask says what watchers were told: RUNNING');
  t.notOk(streamed.some((u) => u.state === 'FINISHED'), 'FINISHED is not streamed while it cannot be stored');
  t.same(engine.removed, [], 'the container is kept while its exit cannot be recorded');
  t.same(store.load().records.find((r) => r.launch.taskId === 't1')?.history.at(-1)?.state, 'RUNNING', 'the store says RUNNING too');
  // Another task's launch is refused while the store is full, and uses no sequence.
  const before = tasks.bus.latestSequence();
  t.throws(() => tasks.launch(launchOf('t2')), { code: 'UNAVAILABLE' }, 'launches are refused while the store is full');
  t.equal(tasks.bus.latestSequence(), before, 'no sequence used up by refused writes');

  store.full = false;
  await tasks.drain();
  const finished = streamed.filter((u) => u.taskId === 't1' && u.state === 'FINISHED');
  t.equal(finished.length, 1, 'FINISHED streamed once the store took it');
  t.ok((finished[0]?.sequence ?? 0) > before, 'with a fresh sequence');
  t.same(engine.removed, ['c-t1'], 'then the container is removed');
  t.equal(store.load().records.find((r) => r.launch.taskId === 't1')?.history.at(-1)?.state, 'FINISHED', 'the store says FINISHED');
  const sequences = streamed.map((u) => u.sequence);
  t.same(sequences, [...sequences].sort((a, b) => a - b), 'sequences only go up');
  t.equal(new Set(sequences).size, sequences.length, 'no sequence streamed twice');
  tasks.launch(launchOf('t3'));
  t.pass('launches are accepted again once the store has room');
  await until('t3 RUNNING', () => tasks.get('t3').state === 'RUNNING');
  engine.exitNow('c-t3', 0);
  await tasks.drain();
});

t.test('a restart while the end is held finds the real end, not LOST, and reuses no sequence', async (t) => {
  const { engine, open } = setup(t);
  const first = open();
  first.tasks.launch(launchOf('t1'));
  first.tasks.launch(launchOf('t2'));
  await until('RUNNING', () => first.tasks.get('t1').state === 'RUNNING' && first.tasks.get('t2').state === 'RUNNING');
  first.store.full = true;
  engine.exitNow('c-t1', 0);
  await until('the exit meets the full store', () => first.store.failures >= 2);
  const streamedBefore = [...first.streamed];
  const lastStreamed = Math.max(...streamedBefore.map((u) => u.sequence));
  first.tasks.abandon(); // the executor dies (no more writes from it)
  first.store.full = false;

  const second = open();
  await second.tasks.recover();
  await until('t1 ends', () => second.tasks.get('t1').state !== 'RUNNING');
  t.equal(second.tasks.get('t1').state, 'FINISHED', 'the task that exited while the store was full is FINISHED, not LOST');
  t.equal(second.tasks.get('t2').state, 'RUNNING', 'the task still running is re-attached');
  engine.exitNow('c-t2', 0);
  await second.tasks.drain();
  t.equal(second.tasks.get('t2').state, 'FINISHED');
  const after = second.streamed.filter((u) => u.taskId === 't1' || u.taskId === 't2');
  t.ok(after.every((u) => u.sequence > lastStreamed), 'numbering continues above everything streamed before the restart');
  const all = [...streamedBefore, ...after];
  for (const id of ['t1', 't2']) {
    t.equal(all.filter((u) => u.taskId === id && /FINISHED|FAILED|KILLED|LOST/.test(u.state)).length, 1, `${id}: one terminal update across the restart`);
  }
  for (const id of ['t1', 't2']) {
    const stored = second.store.load().records.find((r) => r.launch.taskId === id);
    t.same(stored?.history.map((u) => u.sequence), second.tasks.get(id).history.map((u) => u.sequence), `${id}: the store holds exactly what GetTask shows`);
  }
});

t.test('a kill the store has not taken keeps the container after its exit, until the kill is stored', async (t) => {
  const { engine, open } = setup(t);
  const { store, tasks, streamed } = open();
  tasks.launch(launchOf('t1'));
  await until('RUNNING', () => tasks.get('t1').state === 'RUNNING');
  store.full = true;
  tasks.kill('t1', 'scaled down', 1);
  engine.exitNow('c-t1', 143); // the stop's SIGTERM
  await until('the kill and the exit meet the full store', () => store.failures >= 2);
  await sleep(300);
  t.same(engine.removed, [], 'the container is kept while nothing of the kill is stored');
  t.notOk(streamed.some((u) => u.taskId === 't1' && u.state === 'KILLED'), 'KILLED is not streamed');
  store.full = false;
  await tasks.drain();
  t.same(engine.removed, ['c-t1'], 'removed once the store takes writes again');
  const stored = store.load().records.find((r) => r.launch.taskId === 't1');
  t.equal(stored?.history.at(-1)?.state, 'KILLED', 'the store says KILLED');
  t.equal(stored?.history.at(-1)?.exit?.exitCode, 143, 'with the exit code');
});

t.test('a restart that finds the container of a stored kill gone reports KILLED; without a kill, LOST', async (t) => {
  const { engine, open } = setup(t);
  const first = open();
  first.tasks.launch(launchOf('killed'));
  first.tasks.launch(launchOf('running'));
  await until('RUNNING', () => first.tasks.get('killed').state === 'RUNNING' && first.tasks.get('running').state === 'RUNNING');
  first.tasks.kill('killed', 'scaled down', 1);
  t.equal(first.store.load().records.find((r) => r.launch.taskId === 'killed')?.history.at(-1)?.state, 'KILL_INITIATED', 'the kill is stored');
  // The executor dies right after removing the killed task's container, before
  // storing its end (the removal does not wait for the exit once the kill is
  // stored); the other container is removed behind the executor's back.
  first.tasks.abandon();
  await engine.removeContainer('c-killed');
  await engine.removeContainer('c-running');

  const second = open();
  await second.tasks.recover();
  await second.tasks.drain();
  t.equal(second.tasks.get('killed').state, 'KILLED', 'the killed task is KILLED');
  t.equal(second.tasks.get('running').state, 'LOST', 'a task nobody killed whose container is gone is LOST');
  t.match(second.tasks.get('running').lastUpdate.message, /is gone/, 'saying why');
});
