/**
 * `--since` for `titus-executor logs`: an RFC 3339 time, or a duration
 * before now as `docker logs` takes it (90s, 10m, 1h30m, 2d).
 */
import type { Timestamp } from '../proto/generated/google/protobuf/Timestamp.js';
import { normalizeTimestamp } from '../task/task-service.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

export const parseSince = (text: string, nowMs: number = Date.now()): Timestamp => {
  const value = text.trim();
  if (DURATION_RE.test(value)) {
    let ms = 0;
    for (const [, amount, unit] of value.matchAll(DURATION_PART_RE)) ms += Number(amount) * (UNIT_MS[unit ?? ''] ?? 0);
    const at = Math.max(0, Math.floor(nowMs - ms));
    return { seconds: String(Math.floor(at / 1000)), nanos: (at % 1000) * 1_000_000 };
  }
  const fixed = normalizeTimestamp(value); // 2024-05-01T12:00:00.123456789Z
  if (fixed === undefined) throw new Error(`--since ${text}: not an RFC 3339 time (2024-05-01T12:00:00Z) or a duration (10m, 1h30m)`);
  const seconds = Date.parse(`${fixed.slice(0, 19)}Z`) / 1000;
  if (seconds < 0) throw new Error(`--since ${text}: must not be before 1970`);
  return { seconds: String(seconds), nanos: Number(fixed.slice(20, 29)) };
};
