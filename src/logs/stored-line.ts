/**
 * How one line of a task's output is kept on disk: one text line per output
 * line, `<time> <o|e> <text>\n`, with the time in the fixed RFC 3339 form
 * (src/runtime/output-timestamp.ts). Appending never rewrites anything, a line
 * is readable with grep and tail, and a torn last line (a crash mid-write) is
 * recognisable by its missing newline.
 */
import type { LogStreamName } from './types.js';

export interface StoredLine {
  /** Fixed-form RFC 3339 time: string order is time order. */
  readonly timestamp: string;
  readonly stream: LogStreamName;
  /** Without a newline; the engine splits output on newlines, so there is none inside. */
  readonly text: string;
}

const TIMESTAMP_LENGTH = '2024-05-01T12:00:00.123456789Z'.length;
const STREAM_CODE: Readonly<Record<LogStreamName, string>> = { stdout: 'o', stderr: 'e' };

/** One stored line with its newline. */
export const formatStoredLine = (line: StoredLine): string => `${line.timestamp} ${STREAM_CODE[line.stream]} ${line.text}\n`;

/** Bytes of the stored form, for the size cap. */
export const storedLineBytes = (line: StoredLine): number => TIMESTAMP_LENGTH + 4 + Buffer.byteLength(line.text);

/** One line as read back, without its newline; undefined when it is not in the stored form. */
export const parseStoredLine = (raw: string): StoredLine | undefined => {
  if (raw.length < TIMESTAMP_LENGTH + 3 || raw[TIMESTAMP_LENGTH] !== ' ' || raw[TIMESTAMP_LENGTH + 2] !== ' ') return undefined;
  const code = raw[TIMESTAMP_LENGTH + 1];
  if (code !== 'o' && code !== 'e') return undefined;
  return { timestamp: raw.slice(0, TIMESTAMP_LENGTH), stream: code === 'o' ? 'stdout' : 'stderr', text: raw.slice(TIMESTAMP_LENGTH + 3) };
};

/** The line cut so its stored form fits in `maxBytes` (never in the middle of a character). */
export const truncateToFit = (line: StoredLine, maxBytes: number): StoredLine => {
  const room = maxBytes - (TIMESTAMP_LENGTH + 4);
  if (Buffer.byteLength(line.text) <= room) return line;
  let cut = Buffer.from(line.text).subarray(0, Math.max(0, room)).toString('utf8');
  // A character cut in half decodes to U+FFFD, which takes 3 bytes: drop such ends until it fits.
  while (Buffer.byteLength(cut) > room) cut = cut.slice(0, -1);
  return { ...line, text: cut };
};
