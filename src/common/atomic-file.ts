import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const temporaryFor = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

/**
 * Private by default: what the executor writes (task records, requests with
 * their env secrets) is the executor's alone. A file meant for others (a hook
 * config) says so with its mode; directories created on the way get `dirMode`.
 */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

/**
 * Writes `content` to `path` so a reader sees the old file or the new one,
 * never a torn one: write a temporary sibling, fsync it, rename it over, then
 * fsync the directory so the rename survives a crash.
 */
export const writeFileAtomic = async (path: string, content: string, mode = PRIVATE_FILE, dirMode = PRIVATE_DIR): Promise<void> => {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: dirMode });
  const temporary = temporaryFor(path);
  try {
    await writeFile(temporary, content, { mode, flush: true });
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** writeFileAtomic for callers that must not yield (a status written before it is streamed). */
export const writeFileAtomicSync = (path: string, content: string, mode = PRIVATE_FILE, dirMode = PRIVATE_DIR): void => {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: dirMode });
  const temporary = temporaryFor(path);
  try {
    writeFileSync(temporary, content, { mode, flush: true });
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

/**
 * A file that holds a task's request (its env may carry secrets): 0600, in
 * directories created 0700, replaced atomically. For run-task's state files
 * and anything else that publishes a request on the host.
 */
export const writePrivateFileSync = (path: string, content: string): void => writeFileAtomicSync(path, content, PRIVATE_FILE, PRIVATE_DIR);

/**
 * A directory of the executor's own that holds private files: created 0700,
 * and tightened to 0700 when an older version left it open to others (only
 * when this process owns it; someone else's directory is not changed).
 */
export const ensurePrivateDirSync = (dir: string): void => {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) chmodSync(dir, PRIVATE_DIR);
};
