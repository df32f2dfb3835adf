/**
 * Sends each task's logs to S3 (docs/log-upload.md), beside the task and never
 * in its way: nothing here runs on the launch path except prepare() (two
 * mkdirs and one small file).
 *
 * Per task, one loop: while the task runs, every scan interval it sends the
 * rotated output segments (upload/pending/) and the files of its /logs that
 * match its upload regexp and have been left alone for the upload threshold;
 * once the task ended (taskEnded) one final pass sends the rest (the last
 * output file as `stdout`/`stderr`, every file in /logs), then marks the task
 * complete. A pass that fails is tried again after a back-off that doubles up
 * to retry.maxDelayMs, for as long as it takes. A local file is removed only
 * after its object is up. Everything it knows is on disk, so a restarted
 * executor picks every unfinished task up again (start()) and resumes
 * multipart uploads where they stopped.
 */
import { setMaxListeners } from 'node:events';
import { chmodSync, mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { readEndedMarker } from '../ended-marker.js';
import { SAFE_TASK_DIR_RE } from '../log-files.js';
import type { LogUploadConfig } from './config.js';
import { S3Clients, type HostCredentials } from './s3-clients.js';
import { Slots } from './slots.js';
import { TaskUploadLoop } from './task-upload-loop.js';
import { holdsLogs, pendingDir, readTarget, taskFilesDir, writeTargetUnsynced } from './upload-files.js';
import type { UploadTarget } from './upload-target.js';

export interface LogUploaderOptions {
  /** The logs root: `<logs.dir>`, one directory per task. */
  readonly root: string;
  readonly config: LogUploadConfig;
  readonly log: Logger;
  /** Signs uploads made as the host, and AssumeRole; unset: the SDK's default chain. */
  readonly hostCredentials?: HostCredentials;
}

export class LogUploader {
  private readonly loops = new Map<string, TaskUploadLoop>();
  private readonly abort = new AbortController();
  private readonly clients: S3Clients;
  private readonly slots: Slots;

  constructor(private readonly options: LogUploaderOptions) {
    // One listener per task loop on the shared stop signal: many tasks are not a leak.
    setMaxListeners(0, this.abort.signal);
    this.clients = new S3Clients(options.config, options.hostCredentials);
    this.slots = new Slots(options.config.concurrency);
  }

  /** Takes up every task whose logs are not all up yet: ended ones get their final pass, the others their scans. */
  async start(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.options.root);
    } catch {
      return;
    }
    for (const taskId of names) {
      if (!SAFE_TASK_DIR_RE.test(taskId)) continue;
      const dir = join(this.options.root, taskId);
      if (!holdsLogs(dir)) continue;
      const target = await readTarget(dir);
      if (target === undefined) {
        this.options.log.error({ taskId }, "the task's upload target cannot be read: its logs are kept on this host and not uploaded");
        continue;
      }
      const ended = (await readEndedMarker(dir)) !== undefined;
      this.options.log.info({ taskId, ended }, 'resuming the upload of task logs');
      this.loopFor(taskId, dir, target).ended = ended;
    }
  }

  /**
   * Before the task's container is created: makes its /logs directory (returned,
   * to be bind-mounted) and, when its logs are uploaded, records where to.
   */
  async prepare(taskId: string, target: UploadTarget | undefined): Promise<string> {
    if (!SAFE_TASK_DIR_RE.test(taskId)) throw new Error(`task id ${taskId} cannot name a log directory`);
    const dir = join(this.options.root, taskId);
    const files = taskFilesDir(dir);
    mkdirSync(files, { recursive: true, mode: 0o750 });
    // Any user of the container writes there (Titus made /logs 0777 too).
    chmodSync(files, 0o777);
    if (target !== undefined) {
      mkdirSync(pendingDir(dir), { recursive: true, mode: 0o750 });
      const written = await writeTargetUnsynced(dir, target);
      this.loopFor(taskId, dir, target);
      // On disk within moments, not on the launch path: only a host crash in between could lose it.
      written.synced().catch((err: unknown) => this.options.log.warn({ taskId, err: errorMessage(err) }, "cannot flush the task's upload target to disk"));
    }
    return files;
  }

  /** The task ended and its output is stored to the end: the final pass. */
  taskEnded(taskId: string, dir: string): void {
    const existing = this.loops.get(taskId);
    if (existing !== undefined) {
      existing.end();
      return;
    }
    if (!holdsLogs(dir)) return;
    void readTarget(dir).then((target) => {
      if (target === undefined || this.abort.signal.aborted) return;
      this.loopFor(taskId, dir, target).end();
    });
  }

  /** True while `taskDir`'s logs must stay: to be uploaded, and not all up yet. */
  holds(taskDir: string): boolean {
    return holdsLogs(taskDir);
  }

  /** Resolves when the task's logs are all up (for tests and for stop with a deadline). */
  whenComplete(taskId: string): Promise<void> {
    return this.loops.get(taskId)?.done ?? Promise.resolve();
  }

  /** Stops every upload where it is; a restarted executor resumes them. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.loops.values()].map((l) => l.done));
    this.clients.destroy();
  }

  private loopFor(taskId: string, dir: string, target: UploadTarget): TaskUploadLoop {
    let loop = this.loops.get(taskId);
    if (loop === undefined) {
      loop = new TaskUploadLoop(taskId, dir, target, {
        ...this.options,
        clients: this.clients,
        slots: this.slots,
        signal: this.abort.signal,
      });
      this.loops.set(taskId, loop);
      const started = loop;
      void started.done.then(() => {
        if (this.loops.get(taskId) === started) this.loops.delete(taskId);
        this.clients.forget(target.roleArn, target.sessionName);
      });
    }
    return loop;
  }
}

export { isComplete } from './upload-files.js';
