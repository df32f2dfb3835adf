import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CURRENT_FILE, fileAge, rotatedFile } from './log-files.js';
import { formatStoredLine, storedLineBytes, truncateToFit, type StoredLine } from './stored-line.js';
import { linkRotatedForUpload, pendingInode } from './upload/pending-segments.js';
import { pendingDir } from './upload/upload-files.js';

export interface RotationLimits {
  /** Bytes per file; a line that alone is longer is cut to fit. */
  readonly maxFileBytes: number;
  /** Files kept, the one being written included; the oldest is dropped when a new one starts. */
  readonly maxFiles: number;
}

const TAIL_BLOCK = 64 * 1024;

/**
 * Appends a task's lines to `output.log`, rotating it to `output.log.1`, …
 * when the next line would push it past maxFileBytes, so a task never keeps
 * more than maxFiles × maxFileBytes. One writer per directory at a time.
 *
 * No fsync per line: what was written is in the page cache and survives the
 * executor's own restarts; a host crash may lose the last seconds, which the
 * engine still has while the container exists (a resumed copy fetches them).
 */
export class RotatingLogWriter {
  private constructor(
    private readonly dir: string,
    private readonly limits: RotationLimits,
    private handle: FileHandle,
    private size: number,
  ) {}

  static async open(dir: string, limits: RotationLimits): Promise<RotatingLogWriter> {
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await dropFilesBeyond(dir, limits.maxFiles);
    // A crash between linking output.log for upload and renaming it: finish that rotation, or
    // the lines appended now would go up twice (in that segment and in the next).
    const current = await stat(join(dir, CURRENT_FILE)).catch(() => undefined);
    if (current !== undefined && pendingInode(pendingDir(dir), current.ino) !== undefined) await shiftFiles(dir, limits.maxFiles);
    const handle = await open(join(dir, CURRENT_FILE), 'a+', 0o640);
    try {
      const size = await dropTornLine(handle);
      return new RotatingLogWriter(dir, limits, handle, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Writes the lines in order; resolves once they are in the file. */
  async append(lines: readonly StoredLine[]): Promise<void> {
    const { maxFileBytes } = this.limits;
    let chunk = '';
    let chunkBytes = 0;
    for (const original of lines) {
      const line = truncateToFit(original, maxFileBytes);
      const bytes = storedLineBytes(line);
      if (this.size + chunkBytes + bytes > maxFileBytes && this.size + chunkBytes > 0) {
        await this.write(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await this.rotate();
      }
      chunk += formatStoredLine(line);
      chunkBytes += bytes;
    }
    if (chunkBytes > 0) await this.write(chunk, chunkBytes);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async write(text: string, bytes: number): Promise<void> {
    await this.handle.write(text);
    this.size += bytes;
  }

  /** output.log.(n-1) → output.log.n, …, output.log → output.log.1, then a new output.log. */
  private async rotate(): Promise<void> {
    await this.handle.close();
    const current = join(this.dir, CURRENT_FILE);
    // Before anything is renamed or dropped: the link keeps the bytes until they are uploaded.
    // Should it fail (no inode left), the output is still stored; only that segment may miss its upload.
    await linkRotatedForUpload(this.dir, current).catch(() => undefined);
    await shiftFiles(this.dir, this.limits.maxFiles);
    this.handle = await open(current, 'a+', 0o640);
    this.size = 0;
  }
}

/** output.log.(n-1) → output.log.n, …, output.log → output.log.1 (or output.log dropped when only one file is kept). */
const shiftFiles = async (dir: string, maxFiles: number): Promise<void> => {
  const current = join(dir, CURRENT_FILE);
  if (maxFiles <= 1) {
    await rm(current, { force: true });
    return;
  }
  for (let n = maxFiles - 1; n >= 2; n--) {
    await rename(join(dir, rotatedFile(n - 1)), join(dir, rotatedFile(n))).catch(ignoreMissing);
  }
  await rename(current, join(dir, rotatedFile(1)));
};

const ignoreMissing = (err: unknown): void => {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
};

/** Files older than the limit allows (the limit was lowered since they were written). */
const dropFilesBeyond = async (dir: string, maxFiles: number): Promise<void> => {
  for (const name of await readdir(dir)) {
    const age = fileAge(name);
    if (age !== undefined && age >= maxFiles) await rm(join(dir, name), { force: true });
  }
};

/**
 * A crash in the middle of a write leaves a last line without its newline:
 * cut it off, so the next line does not run into it. The copy resumes after
 * the last whole line, so the engine sends that line again. Returns the size.
 */
const dropTornLine = async (handle: FileHandle): Promise<number> => {
  const { size } = await handle.stat();
  let end = size;
  const block = Buffer.alloc(TAIL_BLOCK);
  while (end > 0) {
    const start = Math.max(0, end - TAIL_BLOCK);
    const { bytesRead } = await handle.read(block, 0, end - start, start);
    const newline = block.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline >= 0) {
      const keep = start + newline + 1;
      if (keep < size) await handle.truncate(keep);
      return keep;
    }
    end = start;
  }
  if (size > 0) await handle.truncate(0);
  return 0;
};
