import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import { isProcessAlive, processStartTime } from '../common/process-liveness.js';

/** Who holds a GPU: a task in one process (pid plus its start time, against pid reuse). */
export interface GpuLockOwner {
  readonly taskId: string;
  readonly pid: number;
  readonly startTime?: string;
}

export type GpuLockAttempt =
  | { readonly acquired: true }
  | { readonly acquired: false; readonly holder?: GpuLockOwner };

/**
 * Exclusion between executor processes on one host (the daemon and a
 * `run-task` next to it). The in-process allocator decides first; this only
 * says whether another process already has the GPU.
 */
export interface GpuLockStore {
  tryAcquire(uuid: string, taskId: string): GpuLockAttempt;
  /** Best effort and never throws: it runs on every task exit path. */
  release(uuid: string, taskId: string): void;
  /**
   * Removes every lock whose process is gone (a crash, kill -9): no live task
   * can own it, and a reader trusting the directory would see the GPU taken.
   * Returns what was removed; best effort, never throws.
   */
  removeStale?(): readonly GpuLockOwner[];
}

/** For a process that is alone on its host (or tests): nothing beyond the in-process allocator. */
export const NO_CROSS_PROCESS_LOCKS: GpuLockStore = Object.freeze({
  tryAcquire: (): GpuLockAttempt => ({ acquired: true }),
  release: (): void => undefined,
});

export const DEFAULT_GPU_LOCK_DIR = '/run/titus-executor/gpu-locks';

export interface FileGpuLockStoreOptions {
  /** Default /run/titus-executor/gpu-locks: tmpfs, so a reboot clears it. */
  readonly lockDir?: string;
  /** Who this store locks for; default this process. Tests pose as another process. */
  readonly owner?: { readonly pid: number; readonly startTime?: string };
  /** A lock file that cannot be parsed is being written for this long, then it is stale. Default 5000 ms. */
  readonly unreadableLockGraceMs?: number;
  readonly log?: Logger;
}

type LockReading =
  | { readonly state: 'missing' }
  | { readonly state: 'owned'; readonly raw: string; readonly owner: GpuLockOwner }
  | { readonly state: 'unreadable'; readonly raw: string; readonly ageMs: number };

const LOCK_NAME = /^[A-Za-z0-9-]+$/;
/** A takeover guard is held for microseconds; one this old belongs to a process that died inside. */
const STALE_TAKEOVER_GUARD_MS = 10_000;

const isErrno = (err: unknown, code: string): boolean => (err as NodeJS.ErrnoException | null)?.code === code;

const parseOwner = (raw: string): GpuLockOwner | undefined => {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return undefined;
    const { taskId, pid, startTime } = value as Record<string, unknown>;
    if (typeof taskId !== 'string' || typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
    return typeof startTime === 'string' ? { taskId, pid, startTime } : { taskId, pid };
  } catch {
    return undefined;
  }
};

/** Creates `path` only if it does not exist (O_EXCL), with `content`. False if it exists. */
const createExclusive = (path: string, content: string): boolean => {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  }
  try {
    writeSync(fd, content);
  } catch (err) {
    closeSync(fd);
    unlinkSync(path);
    throw err;
  }
  closeSync(fd);
  return true;
};

const readIfPresent = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
};

const unlinkIfPresent = (path: string): void => {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
};

/**
 * One lock file per GPU UUID, `<lockDir>/<uuid>.lock`, holding
 * `{"taskId","pid","startTime"}`. Created with O_EXCL so two processes never
 * both create it; a lock whose process is gone is stale and may be taken over.
 * Unlike flock, which the original used, a file does not vanish when its
 * process dies: liveness is checked instead, by pid and process start time.
 */
export class FileGpuLockStore implements GpuLockStore {
  readonly lockDir: string;
  readonly #owner: { readonly pid: number; readonly startTime?: string };
  readonly #unreadableGraceMs: number;
  readonly #log: Logger | undefined;

  constructor(options: FileGpuLockStoreOptions = {}) {
    this.lockDir = options.lockDir ?? DEFAULT_GPU_LOCK_DIR;
    const startTime = processStartTime(process.pid);
    this.#owner = options.owner ?? (startTime === undefined ? { pid: process.pid } : { pid: process.pid, startTime });
    this.#unreadableGraceMs = options.unreadableLockGraceMs ?? 5_000;
    this.#log = options.log;
  }

  tryAcquire(uuid: string, taskId: string): GpuLockAttempt {
    const path = this.#lockPath(uuid);
    const content = this.#contentFor(taskId);
    try {
      this.#ensureDir();
      if (createExclusive(path, content)) return { acquired: true };
      return this.#contend(path, taskId, content);
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot take GPU lock ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  release(uuid: string, taskId: string): void {
    const path = this.#lockPath(uuid);
    try {
      const reading = this.#read(path);
      // Only our own lock: after a takeover the file may be someone else's now.
      if (reading.state === 'owned' && this.#isMine(reading.owner, taskId)) unlinkSync(path);
    } catch (err) {
      this.#log?.warn({ err, lock: path, taskId }, 'could not remove GPU lock file');
    }
  }

  removeStale(): readonly GpuLockOwner[] {
    let names: string[];
    try {
      names = readdirSync(this.lockDir).filter((name) => name.endsWith('.lock'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) this.#log?.warn({ err: errorMessage(err), lockDir: this.lockDir }, 'cannot list the GPU lock directory');
      return [];
    }
    const removed: GpuLockOwner[] = [];
    for (const name of names) {
      const path = join(this.lockDir, name);
      try {
        const reading = this.#read(path);
        if (reading.state !== 'owned' || isProcessAlive(reading.owner.pid, reading.owner.startTime)) continue;
        // The same guard as a takeover, so a process taking this lock over right now is not undone.
        if (this.#takeOver(path, reading.raw, undefined).acquired) removed.push(reading.owner);
      } catch (err) {
        this.#log?.warn({ err: errorMessage(err), lock: path }, 'could not remove a stale GPU lock');
      }
    }
    return removed;
  }

  /** The lock exists: ours already, someone else's, or stale. */
  #contend(path: string, taskId: string, content: string): GpuLockAttempt {
    const reading = this.#read(path);
    if (reading.state === 'missing') {
      // Released between our create and our read: one more try, no loop.
      return createExclusive(path, content) ? { acquired: true } : { acquired: false };
    }
    if (reading.state === 'unreadable') {
      // Probably a holder between its O_EXCL create and its write.
      if (reading.ageMs < this.#unreadableGraceMs) return { acquired: false };
      return this.#takeOver(path, reading.raw, content);
    }
    if (this.#isMine(reading.owner, taskId)) return { acquired: true };
    if (isProcessAlive(reading.owner.pid, reading.owner.startTime)) return { acquired: false, holder: reading.owner };
    this.#log?.info({ lock: path, staleOwner: reading.owner, taskId }, 'taking over stale GPU lock');
    return this.#takeOver(path, reading.raw, content);
  }

  /**
   * Replaces a stale lock (or, without `content`, removes it). A per-lock guard file (O_EXCL again) makes sure only
   * one process does so, and the lock is re-read under the guard so a lock
   * that someone else took over meanwhile is left alone.
   */
  #takeOver(path: string, staleRaw: string, content: string | undefined): GpuLockAttempt {
    const guard = `${path}.takeover`;
    if (!this.#enterGuard(guard)) return { acquired: false };
    try {
      const current = readIfPresent(path);
      if (current !== undefined && current !== staleRaw) {
        const holder = parseOwner(current);
        return holder === undefined ? { acquired: false } : { acquired: false, holder };
      }
      unlinkIfPresent(path);
      // No content: the stale lock is only removed (removeStale).
      if (content === undefined) return { acquired: true };
      return createExclusive(path, content) ? { acquired: true } : { acquired: false };
    } finally {
      unlinkIfPresent(guard);
    }
  }

  #enterGuard(guard: string): boolean {
    const content = JSON.stringify({ pid: this.#owner.pid });
    if (createExclusive(guard, content)) return true;
    const ageMs = this.#ageMs(guard);
    if (ageMs === undefined || ageMs < STALE_TAKEOVER_GUARD_MS) return false;
    unlinkIfPresent(guard);
    return createExclusive(guard, content);
  }

  #read(path: string): LockReading {
    const raw = readIfPresent(path);
    if (raw === undefined) return { state: 'missing' };
    const owner = parseOwner(raw);
    if (owner !== undefined) return { state: 'owned', raw, owner };
    return { state: 'unreadable', raw, ageMs: this.#ageMs(path) ?? 0 };
  }

  #ageMs(path: string): number | undefined {
    try {
      return Date.now() - statSync(path).mtimeMs;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  #isMine(owner: GpuLockOwner, taskId: string): boolean {
    return owner.taskId === taskId && owner.pid === this.#owner.pid && owner.startTime === this.#owner.startTime;
  }

  #contentFor(taskId: string): string {
    return `${JSON.stringify({ taskId, ...this.#owner })}\n`;
  }

  #lockPath(uuid: string): string {
    // The UUID becomes a file name: nothing that could leave the lock dir.
    if (!LOCK_NAME.test(uuid)) throw new ExecutorError('INVALID_ARGUMENT', `not a GPU UUID: ${JSON.stringify(uuid)}`);
    return join(this.lockDir, `${uuid}.lock`);
  }

  // Every time, not once: /run may have been cleaned under a long-running daemon.
  #ensureDir(): void {
    mkdirSync(this.lockDir, { recursive: true, mode: 0o755 });
  }
}
