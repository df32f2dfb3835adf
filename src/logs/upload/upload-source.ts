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
import { open } from 'node:fs/promises';
import { parseStoredLine } from '../stored-line.js';

export type SourceKind = 'raw' | 'stdout' | 'stderr';

export interface SourceChunk {
  readonly data: Buffer;
  /** The file offset just after the bytes this chunk came from. */
  readonly end: number;
}

const BLOCK = 1024 * 1024;

/** Chunks of `path` from `from` up to `size` (the size the upload started with: later appends are not its). */
export async function* readSource(path: string, kind: SourceKind, from: number, size: number): AsyncGenerator<SourceChunk> {
  const handle = await open(path, 'r');
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
