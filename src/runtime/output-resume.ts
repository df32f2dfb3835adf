import type { ContainerOutputLine } from './container-runtime.js';

/**
 * Where a copy of a container's output stands: the time of the last copied
 * line, and how many copied lines have exactly that time. The engine only
 * filters by whole seconds, so a resumed copy gets some lines again; these two
 * tell which ones to drop, even for lines written within the same nanosecond.
 */
export interface ResumePoint {
  readonly timestamp: string;
  readonly count: number;
}

/**
 * Drops the lines a resumed copy gets again: those before the resume point's
 * time, and the first `count` at exactly that time. Remembers the point of
 * what it let through, for the next resume (an engine hiccup mid-copy, or
 * the engine ending a follow before the end of the output).
 */
export class ResumeFilter {
  private skipUntil: string | undefined;
  private skipAtTime = 0;
  private lastTimestamp: string | undefined;
  private lastCount = 0;

  constructor(stored: ResumePoint | undefined) {
    if (stored !== undefined) {
      this.lastTimestamp = stored.timestamp;
      this.lastCount = stored.count;
    }
    this.restart();
  }

  /** Where the next copy must start from; undefined when nothing is stored yet. */
  point(): ResumePoint | undefined {
    return this.lastTimestamp === undefined ? undefined : { timestamp: this.lastTimestamp, count: this.lastCount };
  }

  /** A new copy from the engine begins: it resends lines from the point on. */
  restart(): void {
    this.skipUntil = this.lastTimestamp;
    this.skipAtTime = this.lastCount;
  }

  /** The lines not stored yet, in order. */
  fresh(lines: readonly ContainerOutputLine[]): ContainerOutputLine[] {
    const out: ContainerOutputLine[] = [];
    for (const line of lines) {
      if (this.skipUntil !== undefined) {
        if (line.timestamp < this.skipUntil) continue;
        if (line.timestamp === this.skipUntil && this.skipAtTime > 0) {
          this.skipAtTime--;
          continue;
        }
        this.skipUntil = undefined;
      }
      if (line.timestamp === this.lastTimestamp) this.lastCount++;
      else {
        this.lastTimestamp = line.timestamp;
        this.lastCount = 1;
      }
      out.push(line);
    }
    return out;
  }
}
