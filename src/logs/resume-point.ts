import { open } from 'node:fs/promises';
import type { ResumePoint } from '../runtime/output-resume.js';
import { listLogFiles } from './log-files.js';
import { parseStoredLine, type StoredLine } from './stored-line.js';

const BLOCK = 64 * 1024;

/** Whole lines of one file, last first. */
async function* linesBackward(path: string): AsyncGenerator<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return; // rotated away or removed meanwhile: nothing to resume from there
  }
  try {
    let end = (await handle.stat()).size;
    let carry = Buffer.alloc(0); // the start of a line whose beginning is in an earlier block
    let torn = true; // until the last newline is found: bytes after it are no whole line
    const block = Buffer.alloc(BLOCK);
    while (end > 0) {
      const start = Math.max(0, end - BLOCK);
      const { bytesRead } = await handle.read(block, 0, end - start, start);
      const data = Buffer.concat([block.subarray(0, bytesRead), carry]);
      end = start;
      const first = data.indexOf(0x0a);
      if (first < 0) {
        carry = data;
        continue;
      }
      const stop = torn ? data.lastIndexOf(0x0a) : data.length;
      torn = false;
      const lines = stop > first ? data.subarray(first + 1, stop).toString('utf8').split('\n') : [];
      carry = Buffer.from(data.subarray(0, first));
      for (let i = lines.length - 1; i >= 0; i--) yield lines[i] ?? '';
    }
    if (!torn) yield carry.toString('utf8'); // the file's first line
  } finally {
    await handle.close();
  }
}

/** The resume point of a task's stored output; undefined when nothing is stored. */
export const readResumePoint = async (dir: string): Promise<ResumePoint | undefined> => {
  let last: StoredLine | undefined;
  let count = 0;
  for (const path of (await listLogFiles(dir)).reverse()) {
    for await (const raw of linesBackward(path)) {
      const line = parseStoredLine(raw);
      if (line === undefined) continue;
      if (last === undefined) last = line;
      if (line.timestamp !== last.timestamp) return { timestamp: last.timestamp, count };
      count++;
    }
  }
  return last === undefined ? undefined : { timestamp: last.timestamp, count };
};
