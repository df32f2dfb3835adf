/**
 * The free space kept on the logs' filesystem (logs.reserveMb) so that a
 * task's output never takes what the task records need: each copy asks for
 * room before it appends, stores what fits, marks where it stopped, drops
 * lines while the filesystem is down to the reserve, and marks where it
 * resumes once there is room again.
 */
import { statfs } from 'node:fs/promises';
import { storedLineBytes, type StoredLine } from './stored-line.js';

export interface LogSpaceEvents {
  /** A task's output stopped being stored (metrics). */
  readonly onPaused?: () => void;
  /** Lines not stored for lack of room (metrics). */
  readonly onDropped?: (lines: number) => void;
}

/** Bytes a marker line may take: it is written inside the reserve, so it is kept short. */
const MARKER_BYTES = 512;
/** Room beyond the lines themselves before a stopped copy resumes, so it does not stop and start on every batch. */
const RESUME_MARGIN_MAX = 1024 * 1024;

export const MARKER_PREFIX = '[titus-executor]';

/** The reserve of one logs filesystem, shared by every task's copy. */
export class LogSpaceReserve {
  constructor(
    private readonly dir: string,
    readonly reserveBytes: number,
    readonly events: LogSpaceEvents = {},
  ) {}

  /** Free bytes above the reserve (negative below it); Infinity with no reserve or when the filesystem cannot be asked. */
  async room(): Promise<number> {
    if (this.reserveBytes <= 0) return Infinity;
    try {
      const fs = await statfs(this.dir, { bigint: true });
      return Number(fs.bavail * fs.bsize) - this.reserveBytes;
    } catch {
      return Infinity; // never stop a task's logs because statfs failed: the writes report real errors
    }
  }

  /** `onPaused`: this copy's own note that it stopped (a log line naming the task). */
  gate(onPaused?: () => void): LogSpaceGate {
    return new LogSpaceGate(this, onPaused);
  }
}

/** One task copy's view of the reserve: whether it is stopped, and what it dropped. */
export class LogSpaceGate {
  private stopped: { dropped: number; lastTimestamp: string } | undefined;

  constructor(
    private readonly reserve: LogSpaceReserve,
    private readonly onPaused?: () => void,
  ) {}

  /**
   * What to append of `lines`: all of them while there is room; those that
   * fit and a marker when the room runs out; nothing while stopped; a marker
   * and the lines once there is room again.
   */
  async admit(lines: readonly StoredLine[]): Promise<readonly StoredLine[]> {
    if (lines.length === 0) return lines;
    const room = (await this.reserve.room()) - MARKER_BYTES;
    const bytes = lines.reduce((n, l) => n + storedLineBytes(l), 0);
    const mib = (this.reserve.reserveBytes / (1024 * 1024)).toFixed(1);
    if (this.stopped !== undefined) {
      if (room >= bytes + Math.min(RESUME_MARGIN_MAX, this.reserve.reserveBytes / 4)) {
        // Timed as the last dropped line: a resumed copy after a restart counts it in that line's place.
        const marker = markerLine(this.stopped.lastTimestamp, `output stored again; ${this.stopped.dropped} lines before this one were not stored (logs filesystem down to its ${mib} MiB reserve)`);
        this.stopped = undefined;
        return [marker, ...lines];
      }
      this.drop(lines);
      return [];
    }
    if (bytes <= room) return lines;
    let used = 0;
    let fit = 0;
    for (const l of lines) {
      const b = storedLineBytes(l);
      if (used + b > room) break;
      used += b;
      fit++;
    }
    const dropped = lines.slice(fit);
    const first = dropped[0] as StoredLine;
    this.stopped = { dropped: 0, lastTimestamp: first.timestamp };
    this.reserve.events.onPaused?.();
    this.onPaused?.();
    this.drop(dropped);
    return [
      ...lines.slice(0, fit),
      markerLine(first.timestamp, `output not stored from here: the logs filesystem is down to its ${mib} MiB reserve (logs.reserveMb); lines are dropped until there is room`),
    ];
  }

  private drop(lines: readonly StoredLine[]): void {
    if (this.stopped === undefined || lines.length === 0) return;
    this.stopped.dropped += lines.length;
    this.stopped.lastTimestamp = (lines.at(-1) as StoredLine).timestamp;
    this.reserve.events.onDropped?.(lines.length);
  }
}

const markerLine = (timestamp: string, text: string): StoredLine => ({ timestamp, stream: 'stderr', text: `${MARKER_PREFIX} ${text}` });
