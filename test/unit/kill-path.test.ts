/**
 * The order of the work after a task's container exits (a kill or its own
 * end), against a fake engine and a fake log sink that record what happens
 * when: the reads of the exited container go side by side, and nothing that
 * must come first (the stored output; the stored exit, or after a kill the
 * stored kill) is skipped to get there.
 */
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import type { ContainerExit } from '../../src/runtime/container-runtime.js';
import { UntilStoppedEngine } from '../helpers/until-stopped-engine.js';
import type { TaskOutputSink } from '../../src/logs/types.js';
import type { LaunchSpec } from '../../src/task/types.js';
import { TaskStore } from '../../src/task/task-store.js';
import type { TaskRecord } from '../../src/task/task-record.js';
import type { RecordWriteError } from '../../src/task/record-write-error.js';

/** A log sink whose copy of the output ends a macrotask after finish() is asked for. */
const recordingSink = (events: string[]): TaskOutputSink => ({
  collect: () => undefined,
  finish: async () => {
    events.push('finish asked');
    await new Promise((r) => setTimeout(r, 20));
    events.push('output stored');
  },
  ended: () => void events.push('ended'),
});

/** Launches `spec` and waits (up to 500 ms) until it is RUNNING. */
const launchUntilRunning = async (tasks: TaskManager): Promise<void> => {
  tasks.launch(spec);
  for (let i = 0; i < 100 && tasks.get(spec.taskId).state !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 5));
};

const spec: LaunchSpec = {
  taskId: 'killed',
  containerInfo: { imageName: 'org/app' },
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
};

t.test('after a kill, the output tail is read while the output is still being stored; the container goes only after both', async (t) => {
  const events: string[] = [];
  const tasks = new TaskManager({ runtime: new UntilStoppedEngine(events, 'last line\n'), config: parseConfig({}), log: silentLogger(), output: recordingSink(events) });
  tasks.subscribe((u) => {
    if (u.taskId === spec.taskId && (u.state === 'RUNNING' || u.state === 'KILLED')) events.push(u.state);
  });
  await launchUntilRunning(tasks);
  tasks.kill(spec.taskId, 'scaled down', 1);
  await tasks.drain();
  const at = (e: string): number => events.indexOf(e);
  t.ok(at('read output tail') >= 0 && at('output stored') >= 0, `both happened: ${events.join(', ')}`);
  t.ok(at('read output tail') < at('output stored'), `the tail is read before the stored copy is complete, not after it (${events.join(', ')})`);
  t.ok(at('output stored') < at('remove') && at('read output tail') < at('remove'), 'the container is removed only after its output is stored and read');
  t.ok(at('remove') < at('KILLED'), 'KILLED comes after the removal');
  t.equal(tasks.get(spec.taskId).outputTail, 'last line\n', 'the tail is kept on the task');
  t.equal(events.filter((e) => e === 'KILLED').length, 1, 'one terminal update');
});

/** An engine whose wait answers 50 ms after the stop, as dockerd's wait and then inspect of the exit do. */
class SlowWaitEngine extends UntilStoppedEngine {
  private stopped!: () => void;
  private readonly stoppedOnce = new Promise<void>((r) => (this.stopped = r));
  override async waitContainer(): Promise<ContainerExit> {
    await this.stoppedOnce;
    await new Promise((r) => setTimeout(r, 50));
    this.events.push('exit inspected');
    return { exitCode: 143, oomKilled: false };
  }
  override async stopContainer(): Promise<void> {
    this.events.push('stop');
    this.stopped();
  }
}

t.test('after a kill, the output is read as soon as the stop answers, not after the exit is inspected', async (t) => {
  const events: string[] = [];
  const tasks = new TaskManager({ runtime: new SlowWaitEngine(events, 'last line\n'), config: parseConfig({}), log: silentLogger(), output: recordingSink(events) });
  await launchUntilRunning(tasks);
  tasks.kill(spec.taskId, 'scaled down', 1);
  await tasks.drain();
  const at = (e: string): number => events.indexOf(e);
  t.ok(at('stop') < at('finish asked') && at('read output tail') < at('exit inspected'), `the reads overlap the inspect: ${events.join(', ')}`);
  t.ok(at('output stored') < at('remove') && at('exit inspected') < at('remove'), 'the container goes after both');
  t.equal(tasks.get(spec.taskId).state, 'KILLED');
});

/** A real store (temp dir) that also writes into `events` when a task's exit, before its end, is written and stored. */
const recordingStore = async (events: string[]): Promise<TaskStore> => {
  const dir = await mkdtemp(join(tmpdir(), 'kill-path-store-'));
  const isExitBeforeEnd = (r: TaskRecord): boolean => r.exit !== undefined && !['KILLED', 'FINISHED', 'FAILED', 'LOST'].includes(r.history.at(-1)?.state ?? '');
  return new (class extends TaskStore {
    override save(record: TaskRecord): void {
      super.save(record);
      if (isExitBeforeEnd(record)) events.push('exit stored');
    }
    override async saveMany(records: readonly TaskRecord[]): Promise<Array<RecordWriteError | undefined>> {
      const results = await super.saveMany(records);
      if (records.some(isExitBeforeEnd)) events.push('exit stored');
      return results;
    }
  })(dir);
};

t.test('after a stored kill, the container goes once its output is read, without a write of the exit first; the end carries the exit', async (t) => {
  const events: string[] = [];
  const store = await recordingStore(events);
  t.teardown(() => rm(dirname(store.dir), { recursive: true, force: true }));
  const tasks = new TaskManager({ runtime: new UntilStoppedEngine(events, 'last line\n'), config: parseConfig({}), log: silentLogger(), output: recordingSink(events), store });
  await launchUntilRunning(tasks);
  tasks.kill(spec.taskId, 'scaled down', 1);
  await tasks.drain();
  const at = (e: string): number => events.indexOf(e);
  t.ok(at('output stored') >= 0 && at('remove') >= 0, `both happened: ${events.join(', ')}`);
  t.ok(at('output stored') < at('remove'), 'the container is removed only after its output is stored and read');
  t.equal(at('exit stored'), -1, `the stored kill stands for the exit until the end is stored (${events.join(', ')})`);
  const end = store.load().records.find((r) => r.launch.taskId === spec.taskId)?.history.at(-1);
  t.equal(end?.state, 'KILLED', 'the end is stored');
  t.equal(end?.exit?.exitCode, 143, 'with the exit code');
});

t.test('after its own exit, the exit is stored while the output is being read; the container goes only after both', async (t) => {
  const events: string[] = [];
  const store = await recordingStore(events);
  t.teardown(() => rm(dirname(store.dir), { recursive: true, force: true }));
  const engine = new UntilStoppedEngine(events, 'last line\n');
  const tasks = new TaskManager({ runtime: engine, config: parseConfig({}), log: silentLogger(), output: recordingSink(events), store });
  await launchUntilRunning(tasks);
  engine.exitOnItsOwn(3);
  await tasks.drain();
  const at = (e: string): number => events.indexOf(e);
  t.ok(at('exit stored') >= 0 && at('finish asked') >= 0, `both happened: ${events.join(', ')}`);
  t.ok(at('finish asked') < at('exit stored'), `the output is asked for before the exit's write is done, not after it (${events.join(', ')})`);
  t.ok(at('exit stored') < at('remove') && at('output stored') < at('remove'), 'the container is removed only after its exit is stored and its output read');
  t.equal(store.load().records.find((r) => r.launch.taskId === spec.taskId)?.history.at(-1)?.state, 'FAILED', 'the end is stored');
});

/**
 * An engine that, as dockerd does, reports the container's `die` (its output
 * all logged) a while before its stop and its wait answer (dockerd unmounts
 * and releases the network in between).
 */
class DieFirstEngine extends UntilStoppedEngine {
  private readonly dieListeners = new Set<() => void>();
  private done!: (e: ContainerExit) => void;
  private readonly ended = new Promise<ContainerExit>((r) => (this.done = r));
  /** What `exitCodeOnly` said when the wait answered. */
  exitCodeOnlyAtExit: boolean | undefined;
  private exitCodeOnly: (() => boolean) | undefined;

  onContainerExited(_id: string, listener: () => void): () => void {
    this.dieListeners.add(listener);
    return () => this.dieListeners.delete(listener);
  }
  override waitContainer(_id?: string, _signal?: AbortSignal, exitCodeOnly?: () => boolean): Promise<ContainerExit> {
    this.exitCodeOnly = exitCodeOnly;
    return this.ended;
  }
  private async die(exitCode: number): Promise<void> {
    this.events.push('die');
    for (const listener of this.dieListeners) listener();
    await new Promise((r) => setTimeout(r, 50));
    this.exitCodeOnlyAtExit = this.exitCodeOnly?.();
    this.events.push('engine cleaned up');
    this.done({ exitCode, oomKilled: false });
  }
  override async stopContainer(): Promise<void> {
    this.events.push('stop');
    await this.die(143);
  }
  override exitOnItsOwn(exitCode: number): void {
    void this.die(exitCode);
  }
}

t.test('after a kill, the output is read from the engine\'s die on, before the stop answers; only the exit code is asked of the wait', async (t) => {
  const events: string[] = [];
  const engine = new DieFirstEngine(events, 'last line\n');
  const tasks = new TaskManager({ runtime: engine, config: parseConfig({}), log: silentLogger(), output: recordingSink(events) });
  await launchUntilRunning(tasks);
  tasks.kill(spec.taskId, 'scaled down', 1);
  await tasks.drain();
  const at = (e: string): number => events.indexOf(e);
  t.ok(at('die') < at('finish asked') && at('finish asked') < at('engine cleaned up'), `the output is asked for between the die and the stop's answer: ${events.join(', ')}`);
  t.ok(at('read output tail') < at('engine cleaned up'), 'and so is the tail');
  t.ok(at('engine cleaned up') < at('remove') && at('output stored') < at('remove'), 'the container goes after both');
  t.equal(engine.exitCodeOnlyAtExit, true, 'a stored kill needs only the exit code: the engine is not asked to inspect the exit');
  t.equal(tasks.get(spec.taskId).state, 'KILLED');
});

t.test('after its own exit, the wait still inspects the exit (an OOM kill must be seen), and the output is read after it', async (t) => {
  const events: string[] = [];
  const engine = new DieFirstEngine(events, 'last line\n');
  const tasks = new TaskManager({ runtime: engine, config: parseConfig({}), log: silentLogger(), output: recordingSink(events) });
  await launchUntilRunning(tasks);
  engine.exitOnItsOwn(3);
  await tasks.drain();
  const at = (e: string): number => events.indexOf(e);
  // An engine that is shutting down kills its containers too: their output is read once the wait has answered.
  t.ok(at('engine cleaned up') < at('finish asked'), `no read at the die: ${events.join(', ')}`);
  t.equal(engine.exitCodeOnlyAtExit, false, 'no kill: the whole exit is inspected');
  t.equal(tasks.get(spec.taskId).state, 'FAILED');
});
