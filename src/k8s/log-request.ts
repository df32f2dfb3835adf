import { invalidArgument } from '../common/errors.js';
import type { LogLine } from '../task/task-service.js';
import type { LogsRequest } from './pod-schema.js';

/** What /getLogs asks of the log store, and how to print what it yields. */
export interface LogPlan {
  readonly tailLines?: number;
  readonly sinceMs?: number;
  readonly follow: boolean;
  readonly timestamps: boolean;
  /** Stop after this many bytes (kubectl --limit-bytes); undefined: no limit. */
  readonly limitBytes?: number;
}

/**
 * interLink's ContainerLogOpts to a log-store query. Go sends its zero time
 * (year 1) for an unset SinceTime, which means "no bound" here.
 */
export const planLogs = (req: LogsRequest, nowMs: number): LogPlan => {
  const o = req.Opts ?? {};
  let sinceMs: number | undefined;
  if (o.SinceSeconds !== undefined && o.SinceSeconds !== null && o.SinceSeconds > 0) sinceMs = nowMs - o.SinceSeconds * 1000;
  if (o.SinceTime !== undefined && o.SinceTime !== null && o.SinceTime !== '') {
    const t = Date.parse(o.SinceTime);
    if (Number.isNaN(t)) throw invalidArgument('Opts.SinceTime', `"${o.SinceTime}" is not an RFC 3339 time`);
    if (t > 0) sinceMs = Math.max(sinceMs ?? t, t);
  }
  const tail = o.Tail ?? 0;
  const bytes = o.Bytes ?? 0;
  return {
    ...(tail > 0 ? { tailLines: tail } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    follow: o.Follow === true,
    timestamps: o.Timestamps === true,
    ...(bytes > 0 ? { limitBytes: bytes } : {}),
  };
};

/** One line as `kubectl logs` prints it; with timestamps, RFC 3339 first as the engine does. */
export const formatLogLine = (line: LogLine, timestamps: boolean): string =>
  timestamps ? `${new Date(line.timestampMs).toISOString()} ${line.text}\n` : `${line.text}\n`;
