/** Waiting and watching helpers shared by the recovery tests. */
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';

export const TERMINAL = /FINISHED|FAILED|KILLED|LOST/;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds; throws naming `what` after `timeoutMs`. */
export const eventually = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
};

/** Every update a WatchTaskStatus stream delivers from `after` on. */
export const watchAll = (client: TitusExecutorClient, after = 0): { updates: TaskStatusUpdate__Output[]; cancel(): void } => {
  const updates: TaskStatusUpdate__Output[] = [];
  const stream = client.WatchTaskStatus({ sendSnapshot: false, afterSequence: String(after) });
  stream.on('data', (e) => {
    if (e.update) updates.push(e.update);
  });
  stream.on('error', () => undefined); // cancelled, or cut by an executor crash
  return { updates, cancel: () => stream.cancel() };
};
