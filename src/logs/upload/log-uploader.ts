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
import { chmodSync, mkdirSync, realpathSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { sleepUnlessAborted } from '../../common/abortable.js';
import { readEndedMarker } from '../ended-marker.js';
import { CURRENT_FILE, SAFE_TASK_DIR_RE } from '../log-files.js';
import type { LogUploadConfig } from './config.js';
import { listPending } from './pending-segments.js';
import { S3Clients, type HostCredentials } from './s3-clients.js';
import { isUploaded, uploadObject, type ObjectJob } from './s3-object-upload.js';
import { OutsideTaskDirError, type SourceKind } from './upload-source.js';
import { holdsLogs, isComplete, markComplete, pendingDir, readTarget, stateDir, stateNameFor, taskFilesDir, writeTargetUnsynced } from './upload-files.js';
import { BUILT_IN_UPLOAD_PATTERNS, compileUploadRegexp, type UploadTarget } from './upload-target.js';

export interface LogUploaderOptions {
  /** The logs root: `<logs.dir>`, one directory per task. */
  readonly root: string;
  readonly config: LogUploadConfig;
  readonly log: Logger;
  /** Signs uploads made as the host, and AssumeRole; unset: the SDK's default chain. */
  readonly hostCredentials?: HostCredentials;
}

/** At most this many objects in flight at once, over all tasks. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.free++;
    }
  }
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

interface LoopDeps extends LogUploaderOptions {
  readonly clients: S3Clients;
  readonly slots: Slots;
  readonly signal: AbortSignal;
}

class TaskUploadLoop {
  ended = false;
  readonly done: Promise<void>;
  private wake: (() => void) | undefined;
  private readonly regexp: RegExp | undefined;
  private readonly log: Logger;
  /** The task's /logs on the host, resolved (the real path the confinement check compares with). */
  private readonly filesDir: string;

  constructor(
    private readonly taskId: string,
    private readonly dir: string,
    private readonly target: UploadTarget,
    private readonly deps: LoopDeps,
  ) {
    this.log = deps.log.child({ taskId, bucket: target.bucket, keyPrefix: target.keyPrefix });
    this.filesDir = realpathOr(taskFilesDir(dir));
    let regexp: RegExp | undefined;
    try {
      regexp = compileUploadRegexp(target.uploadRegexp);
    } catch {
      regexp = undefined; // checked at launch; a hand-edited target only loses the early uploads
    }
    this.regexp = regexp;
    // Started on the next tick, so the caller can set `ended` first.
    this.done = Promise.resolve().then(() => this.run());
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    const { initialDelayMs, maxDelayMs } = this.deps.config.retry;
    while (!this.deps.signal.aborted) {
      const final = this.ended;
      try {
        const sent = await this.pass(final);
        if (failures > 0 || sent > 0) this.log.info({ objects: sent, final, afterFailures: failures }, 'task logs uploaded');
        failures = 0;
        if (final) {
          await markComplete(this.dir);
          return;
        }
        await this.sleep(this.target.scanIntervalMs);
      } catch (err) {
        if (this.deps.signal.aborted) return;
        failures++;
        const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(failures - 1, 30));
        this.log.warn({ err: errorMessage(err), failures, retryInMs: delayMs }, 'uploading task logs failed; trying again');
        await this.sleep(delayMs, false);
      }
    }
  }

  /** Waits `ms`, or less when the task ends (unless waiting out a back-off). */
  private async sleep(ms: number, wakeOnEnd = true): Promise<void> {
    const wakeUp = new AbortController();
    const onAbort = (): void => wakeUp.abort();
    this.deps.signal.addEventListener('abort', onAbort, { once: true });
    if (wakeOnEnd) this.wake = onAbort;
    if (!(wakeOnEnd && this.ended)) await sleepUnlessAborted(ms, wakeUp.signal);
    this.wake = undefined;
    this.deps.signal.removeEventListener('abort', onAbort);
  }

  /** One pass; returns the objects sent. Throws on the first failure (the next pass goes on from there). */
  private async pass(final: boolean): Promise<number> {
    let sent = 0;
    // 1. Rotated output: each segment as stdout.<first line's time> and stderr.<…>, then the link goes.
    for (const segment of listPending(this.dir)) {
      const path = join(pendingDir(this.dir), segment);
      for (const stream of ['stdout', 'stderr'] as const) {
        if (await this.send(path, stream, `${stream}.${segment}`, { skipEmpty: true })) sent++;
      }
      await rm(path, { force: true });
      for (const stream of ['stdout', 'stderr']) await rm(this.stateFile(`${stream}.${segment}`), { force: true });
    }
    // 2. The task's /logs: while it runs, the files due; at the end, all of them (as Titus did).
    const filesDir = taskFilesDir(this.dir);
    const now = Date.now();
    for (const path of await listFiles(filesDir)) {
      const rel = relative(filesDir, path);
      if (!final) {
        const st = await stat(path).catch(() => undefined);
        if (st === undefined || now - st.mtimeMs < this.target.uploadThresholdMs || !this.due(rel)) continue;
      }
      try {
        if (await this.send(path, 'raw', rel)) sent++;
      } catch (err) {
        if (!(err instanceof OutsideTaskDirError) && (err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
        this.log.warn({ file: rel }, 'a link in the task log directory is not followed: not uploaded');
        continue;
      }
      if (!final && !this.target.keepLocalFileAfterUpload && (await this.uploadedAsIs(path, rel)) && this.insideFiles(path)) {
        await rm(path, { force: true });
      }
    }
    // 3. The last output file, under the names Titus gave it.
    if (final) {
      const current = join(this.dir, CURRENT_FILE);
      for (const stream of ['stdout', 'stderr'] as const) if (await this.send(current, stream, stream, { skipEmpty: false })) sent++;
    }
    return sent;
  }

  /** The file's directory still resolves inside the task's /logs (the task may have swapped one for a link). */
  private insideFiles(path: string): boolean {
    const parent = realpathOr(dirname(path));
    return parent === this.filesDir || parent.startsWith(`${this.filesDir}${sep}`);
  }

  private due(rel: string): boolean {
    const name = rel.split('/').pop() ?? rel;
    return (this.regexp?.test(name) ?? false) || BUILT_IN_UPLOAD_PATTERNS.some((re) => re.test(name));
  }

  private stateFile(relKey: string): string {
    return join(stateDir(this.dir), stateNameFor(relKey));
  }

  private job(path: string, kind: SourceKind, relKey: string): ObjectJob {
    const confineTo = kind === 'raw' ? this.filesDir : undefined;
    return { bucket: this.target.bucket, key: `${this.target.keyPrefix}${relKey}`, path, kind, stateFile: this.stateFile(relKey), ...(confineTo !== undefined ? { confineTo } : {}) };
  }

  /** The file is up as it is now (unchanged since): only then may it be removed. */
  private uploadedAsIs(path: string, relKey: string): Promise<boolean> {
    return isUploaded(this.job(path, 'raw', relKey));
  }

  /** Sends one object unless it is up already; true when something was sent. */
  private async send(path: string, kind: SourceKind, relKey: string, opts: { skipEmpty?: boolean } = {}): Promise<boolean> {
    const s3 = this.deps.clients.clientFor(this.target.roleArn, this.target.sessionName);
    const { multipartThresholdBytes, partSizeBytes } = this.deps.config;
    const outcome = await this.deps.slots.run(() =>
      uploadObject(s3, this.job(path, kind, relKey), { multipartThresholdBytes, partSizeBytes, skipEmpty: opts.skipEmpty ?? false }, this.deps.signal),
    );
    return outcome === 'uploaded';
  }
}

const realpathOr = (path: string): string => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};

/** Regular files under `dir`, depth first; symbolic links are not followed (they may point anywhere on the host). */
const listFiles = async (dir: string): Promise<string[]> => {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(path)));
    else if (e.isFile()) out.push(path);
  }
  return out;
};

export { isComplete };
