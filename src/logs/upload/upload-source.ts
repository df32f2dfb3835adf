/**
 * Reads what one object holds out of a local file, from a byte offset, in
 * chunks that each say where in the file they end, so an upload in parts can
 * note after each part where the next one starts (and resume there).
 *
 * - `raw`: the file's bytes (a file of the task's /logs).
 * - `stdout` / `stderr`: the text of that stream's lines in a stored output
 *   file (`<timestamp> <o|e> <text>` per line, src/logs/stored-line.ts), one
 *   per line, as the task wrote them. Chunks end at line ends.
 */
import { constants } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { sep } from 'node:path';
import { parseStoredLine } from '../stored-line.js';

export type SourceKind = 'raw' | 'stdout' | 'stderr';

export interface SourceChunk {
  readonly data: Buffer;
  /** The file offset just after the bytes this chunk came from. */
  readonly end: number;
}

const BLOCK = 1024 * 1024;

/** A file of the task's own directory that resolves outside it (a symbolic link the task made). */
export class OutsideTaskDirError extends Error {
  constructor(path: string) {
    super(`${path} leads out of the task's log directory: not uploaded`);
    this.name = 'OutsideTaskDirError';
  }
}

/**
 * Opens `path` for reading without following a link at its end, and, with
 * `confineTo`, only when the file opened is under that directory: the task
 * writes its /logs itself and could swap a directory on the way for a link
 * to a host file between our listing and our open.
 */
export const openConfined = async (path: string, confineTo: string | undefined): Promise<FileHandle> => {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  if (confineTo === undefined) return handle;
  const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => '');
  if (!opened.startsWith(`${confineTo}${sep}`)) {
    await handle.close();
    throw new OutsideTaskDirError(path);
  }
  return handle;
};

/** Chunks of `path` from `from` up to `size` (the size the upload started with: later appends are not its). */
export async function* readSource(path: string, kind: SourceKind, from: number, size: number, confineTo?: string): AsyncGenerator<SourceChunk> {
  const handle = await openConfined(path, confineTo);
  try {
    const block = Buffer.alloc(BLOCK);
    let offset = from;
    let carry = Buffer.alloc(0);
    while (offset < size) {
      const { bytesRead } = await handle.read(block, 0, Math.min(BLOCK, size - offset), offset);
      if (bytesRead === 0) break; // shorter than it was: the rest is not there to send
      offset += bytesRead;
      if (kind === 'raw') {
        yield { data: Buffer.from(block.subarray(0, bytesRead)), end: offset };
        continue;
      }
      const data = carry.length > 0 ? Buffer.concat([carry, block.subarray(0, bytesRead)]) : block.subarray(0, bytesRead);
      const lastNewline = data.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        carry = Buffer.from(data);
        continue;
      }
      carry = Buffer.from(data.subarray(lastNewline + 1));
      yield { data: streamText(data.subarray(0, lastNewline), kind), end: offset - carry.length };
    }
    // A last line without its newline is one being written (or torn by a crash): not sent.
  } finally {
    await handle.close();
  }
}

const streamText = (lines: Buffer, stream: 'stdout' | 'stderr'): Buffer => {
  let out = '';
  for (const raw of lines.toString('utf8').split('\n')) {
    const line = parseStoredLine(raw);
    if (line?.stream === stream) out += `${line.text}\n`;
  }
  return Buffer.from(out, 'utf8');
};
