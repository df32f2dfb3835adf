/**
 * The long-delay timers (src/common/long-timer.ts): delays past Node's 32-bit
 * bound wait instead of firing at once, and chained chunks add up to the delay.
 * The chaining is checked with a small chunk; the bound itself with real delays.
 */
import t from 'tap';
import { MAX_TIMER_DELAY_MS, clampTimerDelay, setLongInterval, setLongTimeout } from '../../src/common/long-timer.js';
import { createHash } from 'node:crypto';
import { MAX_DERIVED_LABEL_BYTES, boundedLabelValue } from '../../src/runtime/labels.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const DAY_MS = 86_400_000;

t.test('delays past 2^31-1 ms do not fire at once', async (t) => {
  let fired = 0;
  const timers = [2 ** 31, 30 * DAY_MS, 2 ** 32 * 1000, Number.MAX_SAFE_INTEGER, Infinity].map((ms) => setLongTimeout(() => fired++, ms).unref());
  const interval = setLongInterval(() => fired++, 2_200_000 * 1000).unref();
  await sleep(200);
  t.equal(fired, 0, 'none of them fired');
  for (const timer of timers) timer.clear();
  interval.clear();
});

t.test('chained chunks add up to the delay', async (t) => {
  const start = performance.now();
  const at = await new Promise<number>((resolve) => setLongTimeout(() => resolve(performance.now()), 120, 25));
  t.ok(at - start >= 119, `fired after ${Math.round(at - start)} ms, not after the first 25 ms chunk`);
  t.ok(at - start < 2000, 'and not much later');
  let fired = false;
  const cleared = setLongTimeout(() => (fired = true), 80, 20);
  await sleep(30);
  cleared.clear();
  await sleep(100);
  t.notOk(fired, 'clear stops it between chunks');
});

t.test('a chained interval repeats at its period and stops on clear', async (t) => {
  const times: number[] = [];
  const start = performance.now();
  const interval = setLongInterval(() => times.push(performance.now() - start), 60, 25);
  await sleep(400);
  interval.clear();
  const n = times.length;
  // Never early (a loaded machine may make them late, so only the bounds that cannot flake).
  t.ok(n >= 1 && n <= 6, `${n} ticks in 400 ms at a 60 ms period`);
  const gaps = times.map((at, i) => at - (i === 0 ? 0 : (times[i - 1] ?? 0)));
  t.ok(gaps.every((g) => g >= 59), `each after a full period (gaps ${gaps.map(Math.round).join(', ')} ms)`);
  await sleep(150);
  t.equal(times.length, n, 'none after clear');
  let selfCleared = 0;
  const once: { clear(): void } = setLongInterval(() => {
    selfCleared++;
    once.clear();
  }, 10);
  await sleep(100);
  t.equal(selfCleared, 1, 'an interval may clear itself from its callback');
});

t.test('clampTimerDelay', async (t) => {
  t.equal(clampTimerDelay(30 * DAY_MS), MAX_TIMER_DELAY_MS);
  t.equal(clampTimerDelay(-5), 0);
  t.equal(clampTimerDelay(Number.NaN), 0);
  t.equal(clampTimerDelay(1500), 1500);
});

t.test('derived labels stay bounded, naming the whole by size and hash', async (t) => {
  t.equal(boundedLabelValue('echo hi'), 'echo hi', 'short values unchanged');
  const big = `echo ${'x'.repeat(1024 * 1024)}`;
  const label = boundedLabelValue(big);
  t.ok(Buffer.byteLength(label) <= MAX_DERIVED_LABEL_BYTES, `${Buffer.byteLength(label)} bytes`);
  t.ok(label.startsWith('echo xxx'), 'keeps the start');
  t.ok(label.endsWith(`[${Buffer.byteLength(big)} bytes, sha256:${createHash('sha256').update(big).digest('hex')}]`), 'names the whole');
  t.ok(Buffer.byteLength(boundedLabelValue('é'.repeat(5000))) <= MAX_DERIVED_LABEL_BYTES, 'multi-byte text too');
});
