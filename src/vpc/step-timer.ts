import { performance } from 'node:perf_hooks';

/**
 * Wall-clock time per step of a multi-step operation (network setup), for a
 * debug log line: `{ sandbox: 143.2, attach: 21.7, total: 166.1 }`.
 */
export class StepTimer {
  private readonly started = performance.now();
  private last = this.started;
  private readonly spans: Record<string, number> = {};

  /** Records the time since the previous mark (or the start) under `step`. */
  mark(step: string): void {
    const now = performance.now();
    this.spans[step] = round(now - this.last);
    this.last = now;
  }

  /** Every step so far and the total. */
  summary(): Record<string, number> {
    return { ...this.spans, total: round(performance.now() - this.started) };
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
