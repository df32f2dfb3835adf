// FileGpuLockStore: the cross-process GPU locks. A temp dir stands for
// /run/titus-executor/gpu-locks; a second store with `owner` set to a live
// `sleep` child stands for another executor process (e.g. `run-task` next to
// the daemon); a pid of a process that has exited stands for a crashed one.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExclusiveGpuAllocator } from '../../src/gpu/gpu-allocator.js';
import { FileGpuLockStore } from '../../src/gpu/gpu-lock-store.js';
import { processStartTime } from '../../src/common/process-liveness.js';
import { fakeGpus } from './gpu-fixtures.js';
import { makeTempDir, type TeardownScope } from './temp-dir.js';

/** A live process other than ours, to pose as a second executor. */
const otherProcess = (t: TeardownScope): { pid: number; startTime?: string } => {
  const child: ChildProcess = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start sleep');
  const startTime = processStartTime(pid);
  return startTime === undefined ? { pid } : { pid, startTime };
};

/** The pid of a process that has exited: what a crashed executor leaves in its lock files. */
const deadPid = (): number => {
  const { pid } = spawnSync('true');
  if (pid === undefined) throw new Error('could not run true');
  return pid;
};

const lockOf = (dir: string, uuid: string): unknown => JSON.parse(readFileSync(join(dir, `${uuid}.lock`), 'utf8'));

t.test('a lock file per GPU, created and removed with the lease', async (t) => {
  const lockDir = join(makeTempDir(t), 'gpu-locks');
  const gpus = fakeGpus(2);
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  const lease = allocator.allocate('task-a', 1);
  const uuid = lease.devices[0]?.uuid ?? '';
  t.match(lockOf(lockDir, uuid), { taskId: 'task-a', pid: process.pid });
  t.same(readdirSync(lockDir), [`${uuid}.lock`]);
  allocator.release('task-a');
  t.same(readdirSync(lockDir), []);
});

t.test('two allocators (two processes) sharing a lock dir never share a GPU', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(8);
  const daemon = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  const runTask = new ExclusiveGpuAllocator(gpus, {
    lockStore: new FileGpuLockStore({ lockDir, owner: otherProcess(t) }),
  });
  const a = daemon.allocate('a', 3);
  const b = runTask.allocate('b', 3);
  t.same(
    a.devices.map((d) => d.index),
    [0, 1, 2],
  );
  t.same(
    b.devices.map((d) => d.index),
    [3, 4, 5],
    'the second process skips GPUs the first holds',
  );
  t.throws(() => runTask.allocate('c', 3), { code: 'RESOURCE_EXHAUSTED', message: /only 2 of 8 are free/ });
  t.equal(readdirSync(lockDir).length, 6, 'the refused request left no lock behind');
  daemon.release('a');
  t.same(
    runTask.allocate('c', 3).devices.map((d) => d.index),
    [0, 1, 2],
    'GPUs the first process released are free for the second',
  );
});

t.test('two allocators in one process, same lock dir, different tasks', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(2);
  const first = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  const second = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  first.allocate('a', 1);
  t.same(
    second.allocate('b', 1).devices.map((d) => d.index),
    [1],
  );
  t.throws(() => second.allocate('c', 1), { code: 'RESOURCE_EXHAUSTED' });
});

t.test('a stale lock (its process is gone) is taken over', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(1);
  const uuid = gpus[0]?.uuid ?? '';
  writeFileSync(join(lockDir, `${uuid}.lock`), JSON.stringify({ taskId: 'crashed', pid: deadPid() }));
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  allocator.allocate('a', 1);
  t.match(lockOf(lockDir, uuid), { taskId: 'a', pid: process.pid });
  t.notOk(existsSync(join(lockDir, `${uuid}.lock.takeover`)), 'the takeover guard is gone');
});

t.test('a reused pid does not keep a dead executor’s lock alive', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(1);
  const uuid = gpus[0]?.uuid ?? '';
  // Our own pid, but a start time that is not ours: the pid was recycled.
  writeFileSync(join(lockDir, `${uuid}.lock`), JSON.stringify({ taskId: 'old', pid: process.pid, startTime: '1' }));
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  t.equal(allocator.allocate('a', 1).devices.length, 1);
});

t.test('after a restart, restore takes the locks back from the dead executor', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(4);
  const crashedPid = deadPid();
  for (const gpu of gpus.slice(1, 3)) {
    writeFileSync(join(lockDir, `${gpu.uuid}.lock`), JSON.stringify({ taskId: 'a', pid: crashedPid }));
  }
  const restarted = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  const lease = restarted.restore(
    'a',
    gpus.slice(1, 3).map((g) => g.uuid),
  );
  t.same(
    lease.devices.map((d) => d.index),
    [1, 2],
  );
  t.match(lockOf(lockDir, gpus[1]?.uuid ?? ''), { taskId: 'a', pid: process.pid });
});

t.test('restore refuses a GPU a live process holds', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(2);
  const other = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir, owner: otherProcess(t) }) });
  other.allocate('theirs', 1);
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  t.throws(() => allocator.restore('mine', [gpus[1]?.uuid ?? '', gpus[0]?.uuid ?? '']), {
    code: 'FAILED_PRECONDITION',
    message: /is held by task theirs in process \d+/,
  });
  t.notOk(existsSync(join(lockDir, `${gpus[1]?.uuid}.lock`)), 'the GPU it could lock was unlocked again');
});

t.test('a lock file being written (unreadable, fresh) counts as held; an old one is stale', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(1);
  const path = join(lockDir, `${gpus[0]?.uuid}.lock`);
  writeFileSync(path, '');
  const store = new FileGpuLockStore({ lockDir, unreadableLockGraceMs: 60_000 });
  t.same(store.tryAcquire(gpus[0]?.uuid ?? '', 'a'), { acquired: false });
  const past = new Date(Date.now() - 120_000);
  utimesSync(path, past, past);
  t.same(store.tryAcquire(gpus[0]?.uuid ?? '', 'a'), { acquired: true });
});

t.test('a takeover guard left by a crash blocks only briefly', async (t) => {
  const lockDir = makeTempDir(t);
  const uuid = fakeGpus(1)[0]?.uuid ?? '';
  const lock = join(lockDir, `${uuid}.lock`);
  writeFileSync(lock, JSON.stringify({ taskId: 'crashed', pid: deadPid() }));
  writeFileSync(`${lock}.takeover`, JSON.stringify({ pid: deadPid() }));
  const store = new FileGpuLockStore({ lockDir });
  t.same(store.tryAcquire(uuid, 'a'), { acquired: false }, 'someone may be mid-takeover');
  const past = new Date(Date.now() - 60_000);
  utimesSync(`${lock}.takeover`, past, past);
  t.same(store.tryAcquire(uuid, 'a'), { acquired: true });
});

t.test('acquire is re-entrant for the same task; release leaves others’ locks alone', async (t) => {
  const lockDir = makeTempDir(t);
  const uuid = fakeGpus(1)[0]?.uuid ?? '';
  const store = new FileGpuLockStore({ lockDir });
  t.same(store.tryAcquire(uuid, 'a'), { acquired: true });
  t.same(store.tryAcquire(uuid, 'a'), { acquired: true });
  t.match(store.tryAcquire(uuid, 'b'), { acquired: false, holder: { taskId: 'a', pid: process.pid } });
  store.release(uuid, 'b');
  t.ok(existsSync(join(lockDir, `${uuid}.lock`)), 'b does not remove a’s lock');
  store.release(uuid, 'a');
  store.release(uuid, 'a');
  t.notOk(existsSync(join(lockDir, `${uuid}.lock`)));
});

t.test('a UUID that could escape the lock dir is refused', async (t) => {
  const store = new FileGpuLockStore({ lockDir: makeTempDir(t) });
  t.throws(() => store.tryAcquire('../../etc/passwd', 'a'), { code: 'INVALID_ARGUMENT' });
});

t.test('an unusable lock dir is a typed error', async (t) => {
  const file = join(makeTempDir(t), 'not-a-dir');
  writeFileSync(file, '');
  const store = new FileGpuLockStore({ lockDir: join(file, 'gpu-locks') });
  t.throws(() => store.tryAcquire(fakeGpus(1)[0]?.uuid ?? '', 'a'), {
    code: 'FAILED_PRECONDITION',
    message: /cannot take GPU lock/,
  });
  t.doesNotThrow(() => store.release(fakeGpus(1)[0]?.uuid ?? '', 'a'), 'release never throws');
});

t.test('removeStale removes the locks of processes that are gone, and only those', async (t) => {
  const lockDir = makeTempDir(t);
  const gpus = fakeGpus(4);
  const neighbour = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir, owner: otherProcess(t) }) });
  const store = new FileGpuLockStore({ lockDir });
  const daemon = new ExclusiveGpuAllocator(gpus, { lockStore: store });
  const alive = neighbour.allocate('run-task', 1).devices.map((d) => `${d.uuid}.lock`);
  const ours = daemon.allocate('running', 1).devices.map((d) => `${d.uuid}.lock`);
  // What an executor killed with -9 leaves: the locks of a task that ended while it was down.
  const pid = deadPid();
  const dead = gpus.slice(2).map((d) => `${d.uuid}.lock`);
  for (const name of dead) writeFileSync(join(lockDir, name), `${JSON.stringify({ taskId: 'ended-while-down', pid })}\n`);
  writeFileSync(join(lockDir, 'GPU-being-written.lock'), ''); // a holder between its create and its write
  t.same(store.removeStale().map((o) => o.taskId), ['ended-while-down', 'ended-while-down'], 'the crashed process\'s two locks');
  t.same(readdirSync(lockDir).sort(), [...alive, ...ours, 'GPU-being-written.lock'].sort(), 'live processes keep theirs; a lock being written is left alone');
  t.notOk(dead.some((name) => existsSync(join(lockDir, name))));
  t.same(store.removeStale(), [], 'nothing more to remove');
  t.same(daemon.allocate('next', 2).devices.map((d) => `${d.uuid}.lock`).sort(), [...dead].sort(), 'the freed GPUs are granted again');
});
