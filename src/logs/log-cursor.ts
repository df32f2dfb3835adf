import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CURRENT_FILE, listLogFiles } from './log-files.js';
import { parseStoredLine, type StoredLine } from './stored-line.js';

interface OpenFile {
  readonly handle: FileHandle;
  readonly ino: number;
  /** Bytes read so far. */
  offset: number;
  /** Bytes after the last newline read: a line still being written. */
  partial: Buffer;
}

const BLOCK = 64 * 1024;

/**
 * Reads a task's log files forward, line by line, and on the next call goes
 * on from where it stopped, across rotations. Files are held open, so a
 * rotation (a rename) or a removal while reading loses nothing already there:
 * the open file is read to its end, then the files written after it.
 * Only whole lines are returned; a line still being written waits for the next call.
 */
export class LogCursor {
  /** Files still to read, oldest first; the last is the one new lines go to. */
  private queue: OpenFile[] = [];
  private closed = false;

  constructor(private readonly dir: string) {}

  /** Every whole line written since the last call, in batches. */
  async *readNew(): AsyncGenerator<StoredLine[]> {
    if (this.queue.length === 0) this.queue = await this.openFiles(undefined);
    while (!this.closed) {
      const file = this.queue[0];
      if (file === undefined) return;
      yield* this.readToEnd(file);
      if (this.queue.length > 1) {
        await this.drop(file);
        continue;
      }
      const current = await stat(join(this.dir, CURRENT_FILE)).catch(() => undefined);
      if (current === undefined || current.ino === file.ino) return; // caught up (or the logs were removed)
      // Rotated since: nothing more is written to this file, so read it to its end, then the files after it.
      yield* this.readToEnd(file);
      const newer = await this.openFiles(file.ino);
      await this.drop(file);
      this.queue = newer;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const files = this.queue;
    this.queue = [];
    await Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
  }

  private async drop(file: OpenFile): Promise<void> {
    this.queue = this.queue.filter((f) => f !== file);
    await file.handle.close().catch(() => undefined);
  }

  /** Opens the log files (oldest first); after `afterIno`'s file when it is among them. */
  private async openFiles(afterIno: number | undefined): Promise<OpenFile[]> {
    const opened: OpenFile[] = [];
    for (const path of await listLogFiles(this.dir)) {
      try {
        const handle = await open(path, 'r');
        opened.push({ handle, ino: (await handle.stat()).ino, offset: 0, partial: Buffer.alloc(0) });
      } catch {
        // rotated out of reach or removed between the listing and the open
      }
    }
    const at = afterIno === undefined ? -1 : opened.findIndex((f) => f.ino === afterIno);
    for (const f of opened.slice(0, at + 1)) await f.handle.close().catch(() => undefined);
    return opened.slice(at + 1);
  }

  private async *readToEnd(file: OpenFile): AsyncGenerator<StoredLine[]> {
    const block = Buffer.alloc(BLOCK);
    while (!this.closed) {
      const { bytesRead } = await file.handle.read(block, 0, BLOCK, file.offset);
      if (bytesRead === 0) return;
      file.offset += bytesRead;
      const data = file.partial.length > 0 ? Buffer.concat([file.partial, block.subarray(0, bytesRead)]) : block.subarray(0, bytesRead);
      const lastNewline = data.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        file.partial = Buffer.from(data);
        continue;
      }
      file.partial = Buffer.from(data.subarray(lastNewline + 1));
      const lines: StoredLine[] = [];
      for (const raw of data.subarray(0, lastNewline).toString('utf8').split('\n')) {
        const line = parseStoredLine(raw);
        if (line !== undefined) lines.push(line);
      }
      if (lines.length > 0) yield lines;
    }
  }
}
