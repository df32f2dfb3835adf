import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const temporaryFor = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

/**
 * Writes `content` to `path` so a reader sees the old file or the new one,
 * never a torn one: write a temporary sibling, fsync it, rename it over, then
 * fsync the directory so the rename survives a crash.
 */
export const writeFileAtomic = async (path: string, content: string, mode = 0o644): Promise<void> => {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
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
export const writeFileAtomicSync = (path: string, content: string, mode = 0o644): void => {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
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
