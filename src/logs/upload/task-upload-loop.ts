/**
 * One task's uploads (see log-uploader.ts): passes while it runs, a final pass
 * once it ended, a back-off after each failed pass.
 */
import { realpathSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { sleepUnlessAborted } from '../../common/abortable.js';
import { CURRENT_FILE } from '../log-files.js';
import type { LogUploadConfig } from './config.js';
import { listPending } from './pending-segments.js';
import type { S3Clients } from './s3-clients.js';
import { isUploaded, uploadObject, type ObjectJob } from './s3-object-upload.js';
import type { Slots } from './slots.js';
import { OutsideTaskDirError, type SourceKind } from './upload-source.js';
import { markComplete, pendingDir, stateDir, stateNameFor, taskFilesDir } from './upload-files.js';
import { BUILT_IN_UPLOAD_PATTERNS, compileUploadRegexp, type UploadTarget } from './upload-target.js';

export interface LoopDeps {
  readonly config: LogUploadConfig;
  readonly log: Logger;
  readonly clients: S3Clients;
  readonly slots: Slots;
  readonly signal: AbortSignal;
}

export class TaskUploadLoop {
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
    const s3 = await this.deps.clients.clientFor(this.target.roleArn, this.target.sessionName);
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
