/**
 * The `ended` file in a task's log directory: the task has ended, and when.
 * It is what tells a restarted executor that a follower may stop, and when
 * the retention time of the task's logs runs out.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../common/atomic-file.js';
import { ENDED_MARKER } from './log-files.js';

const markerSchema = z.object({ endedAtMs: z.number().int().nonnegative() });

export const writeEndedMarker = (dir: string, endedAtMs: number): Promise<void> =>
  writeFileAtomic(join(dir, ENDED_MARKER), `${JSON.stringify({ endedAtMs })}\n`, 0o640);

export const removeEndedMarker = (dir: string): Promise<void> => rm(join(dir, ENDED_MARKER), { force: true });

/**
 * When the task ended; undefined when the marker is absent. A marker that
 * cannot be parsed (a disk problem) still says the task ended: its time is
 * taken from the file's own modification time.
 */
export const readEndedMarker = async (dir: string): Promise<number | undefined> => {
  const path = join(dir, ENDED_MARKER);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const marker = markerSchema.safeParse(parsed);
  if (marker.success) return marker.data.endedAtMs;
  return (await stat(path).catch(() => undefined))?.mtimeMs;
};
