/**
 * The one form a log line's time takes inside the executor: RFC 3339 in UTC
 * with exactly nine fractional digits (`2024-05-01T12:00:00.123456789Z`).
 * Fixed width, so string order is time order, and nanoseconds survive, so two
 * lines written in the same millisecond stay apart when a copy resumes.
 */

const ENGINE_TIME_RE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** From whole epoch seconds and nanoseconds within that second. */
const fromParts = (epochSeconds: number, nanos: number): string => {
  const whole = new Date(epochSeconds * 1000).toISOString(); // …T12:00:00.000Z
  return `${whole.slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
};

/** The engine's timestamp (Go's RFC3339Nano, zone offset allowed) in the fixed form; undefined when it is not one. */
export const normalizeTimestamp = (text: string): string | undefined => {
  const m = ENGINE_TIME_RE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let seconds = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
  if (!Number.isFinite(seconds)) return undefined;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    seconds -= sign * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
  }
  return fromParts(seconds, Number((frac ?? '').padEnd(9, '0')));
};

/** A time in ms since the epoch, in the fixed form. */
export const timestampFromMs = (ms: number): string => {
  const seconds = Math.floor(ms / 1000);
  return fromParts(seconds, Math.round((ms - seconds * 1000) * 1e6));
};

/** Milliseconds since the epoch of a fixed-form timestamp (sub-millisecond digits dropped). */
export const timestampToMs = (ts: string): number => Date.parse(`${ts.slice(0, 23)}Z`);
