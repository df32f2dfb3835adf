/**
 * What the disk quota tests share: a task that writes under and then over its
 * disk size into its own root filesystem, and GetHostResources' answer.
 */
import { call } from '../../src/cli/client.js';
import type { DiskQuota__Output } from '../../src/proto/generated/titus/executor/v1/DiskQuota.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import type { Harness } from '../harness/index.js';
import { uniqueTaskId, type TestExecutor } from '../helpers/executor.js';

export const DISK_MB = 20;

/** 8 MiB fits in 20; 64 more does not. dd's own error (EDQUOT or ENOSPC) goes to the output. */
const SCRIPT = [
  'dd if=/dev/zero of=/small bs=1M count=8 2>/dev/null && echo small-ok',
  'err=$(dd if=/dev/zero of=/big bs=1M count=64 2>&1)',
  'echo big-exit=$?',
  'echo "$err" | grep -v records',
  'ls -l /big',
].join('; ');

export interface DiskTaskResult {
  readonly updates: TaskStatusUpdate__Output[];
  readonly end: TaskStatusUpdate__Output;
  readonly output: string;
  /** The STARTING update that says what became of the disk size. */
  readonly diskNote: string | undefined;
}

export const runDiskTask = async (h: Harness, ex: TestExecutor): Promise<DiskTaskResult> => {
  const taskId = uniqueTaskId('disk');
  const updates = await ex.run({
    taskId,
    containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', SCRIPT] } },
    resources: { cpu: 1, memoryMb: 128, diskMb: DISK_MB },
  });
  const task = await ex.get(taskId);
  return {
    updates,
    end: updates[updates.length - 1] as TaskStatusUpdate__Output,
    output: task.outputTail ?? '',
    diskNote: updates.find((u) => u.state === 'TASK_STATE_STARTING' && (u.message ?? '').startsWith('disk '))?.message,
  };
};

/** Bytes of /big as `ls -l` printed them. */
export const bigFileBytes = (output: string): number => Number(/^\S+\s+\d+\s+\S+\s+\S+\s+(\d+) .*\/big$/m.exec(output)?.[1] ?? NaN);

export const hostDiskQuota = async (ex: TestExecutor): Promise<DiskQuota__Output | null | undefined> =>
  (await call(ex.client.GetHostResources.bind(ex.client), {})).diskQuota;

/** The engine's "Backing Filesystem" (overlay2), '' when it names none. */
export const backingFilesystem = async (h: Harness): Promise<string> => {
  const { stdout } = await h.docker(['info', '--format', '{{json .DriverStatus}}']);
  const status = JSON.parse(stdout) as Array<[string, string]> | null;
  return (status ?? []).find(([k]) => k === 'Backing Filesystem')?.[1] ?? '';
};
