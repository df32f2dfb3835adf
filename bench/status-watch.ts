/**
 * One WatchTaskStatus stream for the whole bench: every update is stamped with
 * its arrival time on this side, and callers wait for a task to reach a state.
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import type { TitusExecutorClient } from '../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { TaskStatusUpdate__Output } from '../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';

export interface ArrivedUpdate {
  readonly state: string;
  readonly message: string;
  /** The executor's own timestamp of the update (ms since the epoch). */
  readonly executorMs: number;
  /** When this process received it: monotonic, and wall clock for comparing with the engine. */
  readonly arrivedPerf: number;
  readonly arrivedWallMs: number;
}

const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED', 'LOST']);
export const isTerminalState = (state: string): boolean => TERMINAL.has(state);

interface Waiter {
  readonly matches: (u: ArrivedUpdate) => boolean;
  readonly resolve: (u: ArrivedUpdate) => void;
  readonly reject: (err: Error) => void;
}

const toArrived = (u: TaskStatusUpdate__Output): ArrivedUpdate => ({
  state: (u.state ?? '').replace(/^TASK_STATE_/, ''),
  message: u.message ?? '',
  executorMs: Number(u.timestamp?.seconds ?? 0) * 1000 + Math.floor((u.timestamp?.nanos ?? 0) / 1e6),
  arrivedPerf: performance.now(),
  arrivedWallMs: Date.now(),
});

export class StatusWatch {
  private readonly updates = new Map<string, ArrivedUpdate[]>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly stream: grpc.ClientReadableStream<unknown>;
  private failure: Error | undefined;

  private constructor(client: TitusExecutorClient, onSnapshotEnd: () => void, onFailure: (err: Error) => void) {
    const stream = client.WatchTaskStatus({ taskIds: [], sendSnapshot: true, afterSequence: '0', keepaliveSeconds: 60 });
    stream.on('data', (e) => {
      if (e.snapshotEnd) onSnapshotEnd();
      if (e.update?.taskId) this.record(e.update.taskId, toArrived(e.update));
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (err.code === 1) return; // CANCELLED: our own close()
      this.failure = err;
      onFailure(err);
      for (const set of this.waiters.values()) for (const w of [...set]) w.reject(err);
    });
    this.stream = stream;
  }

  /** Opens the stream and resolves once the server has subscribed it (its snapshot has ended). */
  static open(client: TitusExecutorClient): Promise<StatusWatch> {
    return new Promise((resolve, reject) => {
      const watch: StatusWatch = new StatusWatch(client, () => resolve(watch), reject);
    });
  }

  history(taskId: string): readonly ArrivedUpdate[] {
    return this.updates.get(taskId) ?? [];
  }

  /** The first update of the task matching `matches`, whether it came already or comes within `timeoutMs`. */
  waitFor(taskId: string, matches: (u: ArrivedUpdate) => boolean, timeoutMs = 60_000): Promise<ArrivedUpdate> {
    const seen = this.history(taskId).find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const set = this.waiters.get(taskId) ?? new Set<Waiter>();
      this.waiters.set(taskId, set);
      const timer = setTimeout(() => {
        set.delete(waiter);
        const states = this.history(taskId).map((u) => u.state).join(',');
        reject(new Error(`task ${taskId}: no matching update within ${timeoutMs} ms (saw ${states || 'nothing'})`));
      }, timeoutMs);
      const waiter: Waiter = {
        matches,
        resolve: (u) => {
          clearTimeout(timer);
          set.delete(waiter);
          resolve(u);
        },
        reject: (err) => {
          clearTimeout(timer);
          set.delete(waiter);
          reject(err);
        },
      };
      set.add(waiter);
    });
  }

  /** Waits for `state`; a task that ends in another state first is an error, with the executor's message. */
  async waitForState(taskId: string, state: string, timeoutMs?: number): Promise<ArrivedUpdate> {
    const u = await this.waitFor(taskId, (x) => x.state === state || isTerminalState(x.state), timeoutMs);
    if (u.state !== state) throw new Error(`task ${taskId} ended ${u.state} before ${state}: ${u.message}`);
    return u;
  }

  waitForTerminal(taskId: string, timeoutMs?: number): Promise<ArrivedUpdate> {
    return this.waitFor(taskId, (u) => isTerminalState(u.state), timeoutMs);
  }

  /** Forgets a finished task, so a long bench does not keep every update. */
  forget(taskId: string): void {
    this.updates.delete(taskId);
  }

  close(): void {
    this.stream.cancel();
  }

  private record(taskId: string, u: ArrivedUpdate): void {
    const list = this.updates.get(taskId) ?? [];
    list.push(u);
    this.updates.set(taskId, list);
    for (const w of [...(this.waiters.get(taskId) ?? [])]) if (w.matches(u)) w.resolve(u);
  }
}
