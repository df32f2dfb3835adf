import type * as grpc from '@grpc/grpc-js';
import { SingleBar } from 'cli-progress';
import type { TitusExecutorClient } from '../proto/generated/titus/executor/v1/TitusExecutor.js';
import type { TaskStatusEvent__Output } from '../proto/generated/titus/executor/v1/TaskStatusEvent.js';
import type { TaskStatusUpdate__Output } from '../proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import { formatUpdate, shortState, toProtoJson } from './format.js';

export const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED', 'LOST']);

export interface Follower {
  /** Resolves once the server has sent its snapshot marker: safe to launch now. */
  readonly ready: Promise<void>;
  /** Resolves with the last update once `until` says so. */
  readonly done: Promise<TaskStatusUpdate__Output | undefined>;
  cancel(): void;
}

export interface FollowOptions {
  readonly json: boolean;
  readonly progress: boolean;
  readonly until: (state: string) => boolean;
}

/**
 * Follows one task's updates, printing each as it arrives (JSON lines with
 * --output json, else a line per state change and a progress bar while the
 * image is pulled).
 */
export const followTask = (client: TitusExecutorClient, taskId: string, opts: FollowOptions): Follower => {
  const stream = client.WatchTaskStatus({ taskIds: [taskId], sendSnapshot: true });
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const bar = opts.progress && !opts.json && process.stdout.isTTY ? new SingleBar({ format: 'pulling [{bar}] {percentage}% {value}/{total} MB' }) : undefined;
  let barStarted = false;
  let last: TaskStatusUpdate__Output | undefined;
  const done = new Promise<TaskStatusUpdate__Output | undefined>((resolve, reject) => {
    stream.on('data', (e: TaskStatusEvent__Output) => {
      if (e.snapshotEnd !== undefined && e.snapshotEnd !== null) return resolveReady();
      const u = e.update;
      if (u === undefined || u === null) return;
      last = u;
      if (bar !== undefined && u.pull !== undefined && u.pull !== null && Number(u.pull.totalBytes) > 0) {
        const total = Math.ceil(Number(u.pull.totalBytes) / 1e6);
        if (!barStarted) bar.start(total, 0);
        barStarted = true;
        bar.setTotal(total);
        bar.update(Math.floor(Number(u.pull.currentBytes) / 1e6));
        return;
      }
      if (barStarted) {
        bar?.stop();
        barStarted = false;
      }
      console.log(opts.json ? JSON.stringify(toProtoJson(u)) : formatUpdate(u));
      if (opts.until(shortState(u.state))) {
        stream.cancel();
        resolve(last);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => {
      resolveReady();
      if (err.code === 1 /* CANCELLED */) resolve(last);
      else reject(err);
    });
    stream.on('end', () => resolve(last));
  });
  return { ready, done, cancel: () => stream.cancel() };
};
