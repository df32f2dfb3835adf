// GpuTaskPart after an executor restart: the GPUs of live tasks whose
// containers still run are granted again, locks left by a process that is
// gone are removed, and, when the engine was down at start, no GPU is granted
// before that is done. A temp dir stands for the lock directory.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { ExclusiveGpuAllocator } from '../../src/gpu/gpu-allocator.js';
import { FileGpuLockStore } from '../../src/gpu/gpu-lock-store.js';
import { GPU_LABEL, GpuTaskPart } from '../../src/parts/gpu-task-part.js';
import type { ContainerSummary } from '../../src/runtime/container-runtime.js';
import { LABEL } from '../../src/runtime/labels.js';
import type { LaunchSpec } from '../../src/task/types.js';
import { fakeGpus } from './gpu-fixtures.js';
import { makeTempDir } from './temp-dir.js';

const gpus = fakeGpus(4);
const launch = (taskId: string, count: number): LaunchSpec => ({
  taskId,
  containerInfo: {},
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: count },
  labels: {},
});
const container = (taskId: string, state: string, uuids: readonly string[]): ContainerSummary => ({
  id: `c-${taskId}`,
  name: taskId,
  state,
  labels: { [LABEL.taskId]: taskId, [GPU_LABEL]: uuids.join(',') },
});
const partFor = (lockDir: string): { part: GpuTaskPart; allocator: ExclusiveGpuAllocator } => {
  const allocator = new ExclusiveGpuAllocator(gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  const part = new GpuTaskPart(allocator, { gpus }, { nvidiaOciRuntime: 'oci-add-hooks', driverCapabilities: 'all' }, silentLogger());
  return { part, allocator };
};
const deadPid = (): number => spawnSync('true').pid ?? 1;

t.test('after kill -9: the running task keeps its GPUs, the locks of ended tasks are removed', async (t) => {
  const lockDir = makeTempDir(t);
  const [a, b, c] = gpus.map((g) => g.uuid);
  const pid = deadPid();
  // What the executor killed with -9 left: locks of a task still running and of one that ended meanwhile.
  for (const [uuid, taskId] of [[a, 'running'], [b, 'running'], [c, 'ended']] as const) {
    writeFileSync(join(lockDir, `${uuid}.lock`), `${JSON.stringify({ taskId, pid })}\n`);
  }
  const { part, allocator } = partFor(lockDir);
  await part.reconcileAfterRestart([container('running', 'running', [a ?? '', b ?? '']), container('ended', 'exited', [c ?? ''])], new Set(['running', 'ended']));
  t.same(allocator.leases().map((l) => [l.taskId, l.devices.map((d) => d.uuid)]), [['running', [a, b]]], 'the running task\'s GPUs granted again');
  t.same(readdirSync(lockDir).sort(), [`${a}.lock`, `${b}.lock`].sort(), 'the ended task\'s lock is gone');
  for (const name of readdirSync(lockDir)) t.match(JSON.parse(readFileSync(join(lockDir, name), 'utf8')), { taskId: 'running', pid: process.pid }, 'held in the name of this process');
});

t.test('started while the engine was down: no GPU is granted until the running containers are known', async (t) => {
  const lockDir = makeTempDir(t);
  const { part, allocator } = partFor(lockDir);
  part.holdUntilReconciled();
  part.admit(launch('no-gpu', 0)); // tasks without GPUs are not held up
  t.throws(() => part.admit(launch('early', 1)), { code: 'UNAVAILABLE', message: /retry shortly/ }, 'a GPU launch is refused for now');
  const held = [gpus[0]?.uuid ?? ''];
  await part.reconcileAfterRestart([container('survivor', 'running', held)], new Set(['survivor']));
  part.admit(launch('late', 1));
  const late = allocator.leases().find((l) => l.taskId === 'late');
  t.not(late?.devices[0]?.uuid, held[0], 'the survivor\'s GPU is not granted twice');
});
