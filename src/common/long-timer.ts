/**
 * Timers for delays that come from input (a task's runtime limit, a watch's
 * keep-alive period, a configured back-off). Node keeps timer delays in a
 * signed 32-bit millisecond count: anything above 2^31-1 ms (24.8 days) is
 * replaced by 1 ms, so a 30-day limit fires at once and a long interval fires
 * a thousand times a second. These chain shorter timers instead, against a
 * monotonic deadline, so any delay is honoured.
 */
import { performance } from 'node:perf_hooks';

/** The longest delay Node's setTimeout and setInterval take as given. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface LongTimer {
  /** Cancels it; safe to call more than once. */
  clear(): void;
  /** It does not keep the process alive (carried over every chained timer). */
  unref(): LongTimer;
}

/**
 * A delay a plain timer can take, for waits that check their condition again
 * when they wake (a loop until a deadline): never above the 32-bit bound,
 * never negative, NaN as 0.
 */
export const clampTimerDelay = (ms: number): number => (Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS));

/**
 * Calls `fn` once, `delayMs` from now, however long that is (Infinity: never).
 * `chunkMs` is the longest single timer armed; only tests set it.
 */
export const setLongTimeout = (fn: () => void, delayMs: number, chunkMs = MAX_TIMER_DELAY_MS): LongTimer => {
  const deadline = performance.now() + (Number.isNaN(delayMs) ? 0 : Math.max(0, delayMs));
  let timer: NodeJS.Timeout | undefined;
  let unrefed = false;
  let cleared = false;
  const arm = (): void => {
    const left = deadline - performance.now();
    timer = setTimeout(
      () => {
        if (cleared) return;
        if (performance.now() < deadline) arm();
        else fn();
      },
      Math.min(Math.max(0, left), chunkMs),
    );
    if (unrefed) timer.unref();
  };
  arm();
  const handle: LongTimer = {
    clear: () => {
      cleared = true;
      if (timer !== undefined) clearTimeout(timer);
    },
    unref: () => {
      unrefed = true;
      timer?.unref();
      return handle;
    },
  };
  return handle;
};

/** Calls `fn` every `periodMs` (at least 1 ms, as Node's setInterval), however long the period. */
export const setLongInterval = (fn: () => void, periodMs: number, chunkMs = MAX_TIMER_DELAY_MS): LongTimer => {
  const period = Number.isNaN(periodMs) ? 1 : Math.max(1, periodMs);
  let current: LongTimer | undefined;
  let unrefed = false;
  let cleared = false;
  const next = (): void => {
    current = setLongTimeout(
      () => {
        if (cleared) return;
        next(); // armed before fn runs, so fn may clear it
        fn();
      },
      period,
      chunkMs,
    );
    if (unrefed) current.unref();
  };
  next();
  const handle: LongTimer = {
    clear: () => {
      cleared = true;
      current?.clear();
    },
    unref: () => {
      unrefed = true;
      current?.unref();
      return handle;
    },
  };
  return handle;
};
