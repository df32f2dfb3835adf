import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { clampTimerDelay } from '../common/long-timer.js';
import type { ContainerOutputSource } from '../runtime/container-runtime.js';
import { timestampFromMs, timestampToMs } from '../runtime/output-timestamp.js';
import { ChangeSignal } from './change-signal.js';
import { ENDED_MARKER, SAFE_TASK_DIR_RE, logsRoot } from './log-files.js';
import { LogCursor } from './log-cursor.js';
import { OutputCollector } from './output-collector.js';
import { readEndedMarker, writeEndedMarker } from './ended-marker.js';
import type { RotationLimits } from './rotating-writer.js';
import type { StoredLine } from './stored-line.js';
import { LogSpaceReserve, type LogSpaceEvents } from './space-reserve.js';
import type { LogLine, LogQuery, TaskLogReader, TaskOutputSink } from './types.js';
import type { LogUploader } from './upload/log-uploader.js';
import { holdsLogs } from './upload/upload-files.js';

export interface TaskLogStoreOptions extends RotationLimits {
  readonly stateDir: string;
  /** logs.dir: where the task directories are; default `<stateDir>/logs`. */
  readonly dir?: string;
  /** Bytes kept free on the logs' filesystem (logs.reserveMb); 0 or absent: none. */
  readonly reserveBytes?: number;
  /** Told when a task's output stops being stored for lack of room, and of the lines dropped. */
  readonly spaceEvents?: LogSpaceEvents;
  /** How long a task's logs are kept after it ended. */
  readonly retentionMs: number;
  readonly sweepIntervalMs: number;
  /** How long finish() waits for a container's output to be stored to its end. */
  readonly finishTimeoutMs: number;
  readonly source: ContainerOutputSource;
  readonly log: Logger;
  /** Sends ended tasks' logs to S3 (logUpload); the sweep keeps what it has not sent yet. */
  readonly uploader?: LogUploader;
}

/** A following reader looks again this often even without news: the safety net under ChangeSignal. */
const FOLLOW_POLL_MS = 1000;
/** Lines and bytes per batch handed to a reader (one GetLogs message each). */
const BATCH_LINES = 1000;
const BATCH_BYTES = 1024 * 1024;
/** How long stop() and a timed-out finish() wait for a stopped collector to close its files. */
const STOP_WAIT_MS = 2000;

/**
 * Each task's stdout and stderr on the host, under `<stateDir>/logs/<taskId>/`
 * (or `<logs.dir>/<taskId>/`), never taking the reserve of free space kept for
 * the task records (src/logs/space-reserve.ts):
 * fed by one OutputCollector per running container, read (and followed) by
 * GetLogs, kept for the retention time after the task ended, then removed.
 * Everything it knows is on disk (the lines, the `ended` markers), so a
 * restarted executor serves the same logs, stops followers of ended tasks,
 * and resumes the copies of containers still running when it calls collect().
 */
export class TaskLogStore implements TaskOutputSink, TaskLogReader {
  private readonly root: string;
  private readonly collectors = new Map<string, OutputCollector>();
  /** End times known to this process (from ended(), or read from markers). */
  private readonly endedAt = new Map<string, number>();
  private readonly changes = new ChangeSignal();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<string[]> | undefined;
  private stopped = false;
  private readonly reserve: LogSpaceReserve;

  constructor(private readonly options: TaskLogStoreOptions) {
    this.root = options.dir ?? logsRoot(options.stateDir);
    this.reserve = new LogSpaceReserve(this.root, options.reserveBytes ?? 0, options.spaceEvents);
  }

  /** The S3 uploader of task logs, when logUpload is on. */
  get uploader(): LogUploader | undefined {
    return this.options.uploader;
  }

  /** Creates the logs directory and removes what is past retention, now and then every sweep interval. */
  async start(): Promise<void> {
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o750 });
    } catch (err) {
      // Tasks still run; each collect() reports that its output cannot be kept.
      this.options.log.error({ dir: this.root, err: errorMessage(err) }, 'task logs cannot be kept: the logs directory cannot be created');
    }
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), clampTimerDelay(this.options.sweepIntervalMs)).unref();
  }

  collect(taskId: string, containerId: string): void {
    const dir = this.dirFor(taskId);
    if (dir === undefined || this.stopped) return;
    // A copy already running is replaced, not kept: the caller knows the engine's stream was
    // cut (an engine restart). The new one starts where the old one's last stored line is.
    const previous = this.collectors.get(taskId);
    previous?.stop();
    // Off the event loop: under a burst of launches, a mkdir waits on the disk's journal
    // behind other writers, and every other task waited with it. Until the collector has
    // finished, followers and the retention sweep go by `collectors`, not the marker.
    const prepared = this.prepareDir(taskId, dir);
    this.endedAt.delete(taskId);
    const collector = new OutputCollector(
      containerId,
      dir,
      {
        source: this.options.source,
        limits: this.options,
        log: this.options.log.child({ taskId }),
        onAppended: () => this.changes.notify(taskId),
        space: this.reserve.gate(() =>
          this.options.log.warn(
            { taskId, dir: this.root, reserveBytes: this.reserve.reserveBytes },
            "the logs filesystem is down to its reserve (logs.reserveMb): the task's output is not stored until there is room",
          ),
        ),
      },
      Promise.all([previous?.done, prepared]).then(() => undefined),
    );
    this.collectors.set(taskId, collector);
    void collector.done.then(() => {
      if (this.collectors.get(taskId) === collector) this.collectors.delete(taskId);
      this.changes.notify(taskId);
    });
  }

  async finish(taskId: string): Promise<void> {
    const collector = this.collectors.get(taskId);
    if (collector === undefined) return;
    collector.containerExited();
    const { finishTimeoutMs } = this.options;
    if (await settlesWithin(collector.done, finishTimeoutMs)) return;
    this.options.log.warn(
      { taskId, timeoutMs: finishTimeoutMs },
      'the task output was not stored to its end in time (logs.finishTimeoutMs); the rest is lost with the container',
    );
    collector.stop();
    await settlesWithin(collector.done, STOP_WAIT_MS);
  }

  /** The task's log directory, running (again): not ended, whatever an earlier run of this id left. */
  private async prepareDir(taskId: string, dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o750 });
      await rm(join(dir, ENDED_MARKER), { force: true });
    } catch (err) {
      this.options.log.warn({ taskId, err: errorMessage(err) }, 'cannot keep the task output: its log directory cannot be created');
      throw err;
    }
  }

  ended(taskId: string, atMs: number): void {
    const dir = this.dirFor(taskId);
    // A task that never ran a container has no logs to keep.
    if (dir === undefined || !existsSync(dir)) return;
    this.endedAt.set(taskId, atMs);
    this.changes.notify(taskId);
    writeEndedMarker(dir, atMs).then(
      // After the marker: a restarted executor that finds it gives the task its final upload too.
      () => this.options.uploader?.taskEnded(taskId, dir),
      (err: unknown) => {
        this.options.log.warn({ taskId, err: errorMessage(err) }, 'cannot record that the task ended; its logs are kept until it is');
      },
    );
  }

  read(taskId: string, query: LogQuery): AsyncIterable<readonly LogLine[]> {
    return this.readLines(taskId, query);
  }

  /** Removes the logs of tasks that ended more than the retention time ago; returns their ids. */
  sweep(nowMs: number = Date.now()): Promise<string[]> {
    this.sweeping ??= this.removeExpired(nowMs).finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** Stops the copies (the engine keeps the output; a restarted executor resumes them), ends followers, sweeps once more. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweepTimer);
    const running = [...this.collectors.values()];
    for (const c of running) c.stop();
    await Promise.all(running.map((c) => settlesWithin(c.done, STOP_WAIT_MS)));
    await this.options.uploader?.stop();
    this.changes.notifyAll();
    await this.sweep();
  }

  private async *readLines(taskId: string, query: LogQuery): AsyncGenerator<readonly LogLine[]> {
    const dir = this.dirFor(taskId);
    if (dir === undefined || !existsSync(dir)) {
      throw new ExecutorError(
        'NOT_FOUND',
        `no logs are kept on this host for task ${taskId}: it never ran a container here, or its logs are past retention (logs.retentionSeconds)`,
      );
    }
    const since = query.sinceMs !== undefined ? timestampFromMs(query.sinceMs) : undefined;
    const wanted = (lines: readonly StoredLine[]): readonly StoredLine[] => (since === undefined ? lines : lines.filter((l) => l.timestamp >= since));
    const cursor = new LogCursor(dir);
    try {
      const tail = query.tailLines ?? 0;
      if (tail > 0) {
        const last = new LastLines(tail);
        for await (const batch of cursor.readNew()) last.add(wanted(batch));
        yield* inBatches(last.lines());
      } else {
        for await (const batch of cursor.readNew()) yield* inBatches(wanted(batch));
      }
      while (query.follow && !query.signal.aborted && !this.stopped) {
        const changed = this.changes.ticket(taskId, FOLLOW_POLL_MS, query.signal);
        // Decided before the last read: whatever was stored before the end is read below.
        const over = await this.isOver(taskId, dir);
        for await (const batch of cursor.readNew()) yield* inBatches(wanted(batch));
        if (over) return;
        await changed;
      }
    } finally {
      await cursor.close();
    }
  }

  /** The task ended and its output is stored: a follower has read everything there will be. */
  private async isOver(taskId: string, dir: string): Promise<boolean> {
    if (this.collectors.has(taskId)) return false;
    if (this.endedAt.has(taskId)) return true;
    const at = await readEndedMarker(dir);
    if (at !== undefined) this.endedAt.set(taskId, at);
    return at !== undefined;
  }

  private async removeExpired(nowMs: number): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const taskId of names) {
      if (!SAFE_TASK_DIR_RE.test(taskId) || this.collectors.has(taskId)) continue;
      const dir = join(this.root, taskId);
      const at = this.endedAt.get(taskId) ?? (await readEndedMarker(dir));
      if (at === undefined || at + this.options.retentionMs > nowMs) continue;
      if (holdsLogs(dir)) {
        // Never removed before they are up: the uploader retries until they are.
        if (this.options.uploader !== undefined) continue;
        this.options.log.warn({ taskId }, 'removing task logs past retention that were never all uploaded: logUpload is off');
      }
      try {
        await rm(dir, { recursive: true, force: true });
        removed.push(taskId);
      } catch (err) {
        this.options.log.warn({ taskId, err: errorMessage(err) }, 'cannot remove task logs past retention');
      }
      this.endedAt.delete(taskId);
      this.changes.notify(taskId);
    }
    if (removed.length > 0) this.options.log.info({ tasks: removed }, 'removed task logs past retention');
    return removed;
  }

  private dirFor(taskId: string): string | undefined {
    return SAFE_TASK_DIR_RE.test(taskId) ? join(this.root, taskId) : undefined;
  }
}

/** Keeps only the last `limit` lines given to it. */
class LastLines {
  private kept: StoredLine[] = [];
  constructor(private readonly limit: number) {}
  add(lines: readonly StoredLine[]): void {
    this.kept.push(...lines);
    // Trim in steps, not per line: amortised O(1) per line.
    if (this.kept.length > 2 * this.limit) this.kept = this.kept.slice(-this.limit);
  }
  lines(): readonly StoredLine[] {
    return this.kept.slice(-this.limit);
  }
}

function* inBatches(lines: readonly StoredLine[]): Generator<readonly LogLine[]> {
  let batch: LogLine[] = [];
  let bytes = 0;
  for (const l of lines) {
    if (batch.length >= BATCH_LINES || (bytes + l.text.length > BATCH_BYTES && batch.length > 0)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push({ timestampMs: timestampToMs(l.timestamp), stream: l.stream, text: l.text });
    bytes += l.text.length;
  }
  if (batch.length > 0) yield batch;
}

/** True when `p` settled within `ms`. */
const settlesWithin = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), clampTimerDelay(ms)); // ms may come from config
    void p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
