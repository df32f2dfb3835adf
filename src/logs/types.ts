/**
 * The per-task log store's two faces: the task runner feeds it (the sink) and
 * the APIs read it (the reader). Both are implemented in src/logs.
 */

export type LogStreamName = 'stdout' | 'stderr';

export interface LogLine {
  /** When the engine received the line, in ms since the epoch. */
  readonly timestampMs: number;
  readonly stream: LogStreamName;
  /** One line without its newline. */
  readonly text: string;
}

/** What the task runner tells the log store. Never throws: a log problem must not fail a task. */
export interface TaskOutputSink {
  /**
   * Starts copying the running container's stdout and stderr into the task's
   * files, resuming after what is already stored (a restarted executor calls
   * it again for every container it re-attaches).
   */
  collect(taskId: string, containerId: string): void;
  /**
   * The container has exited (or is about to be removed): its output is read
   * to the end at once, without waiting for the engine's follow to end.
   * Resolves once it is stored; call before removing the container.
   */
  finish(taskId: string): Promise<void>;
  /** The task has ended: followers stop, and its retention clock starts. */
  ended(taskId: string, atMs: number): void;
}

export interface LogQuery {
  /** Only the last N lines (after `sinceMs`); undefined or 0: every line kept. */
  readonly tailLines?: number;
  /** Only lines received at or after this time. */
  readonly sinceMs?: number;
  /** Keep yielding new lines until the task has ended and its output is stored. */
  readonly follow: boolean;
  /** Ends the read early (the client went away). */
  readonly signal: AbortSignal;
}

export interface TaskLogReader {
  /**
   * Batches of lines, oldest first. Throws ExecutorError NOT_FOUND when the
   * host keeps no logs for the task (unknown, or past retention).
   */
  read(taskId: string, query: LogQuery): AsyncIterable<readonly LogLine[]>;
}
