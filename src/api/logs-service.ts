/**
 * GetLogs: a task's stored stdout and stderr, in batches, oldest first; with
 * `follow`, new lines as they are written until the task has ended and its
 * output is stored, or the client goes away, or the executor stops.
 */
import type * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { ExecutorError, invalidArgument, isExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { LogLine, LogQuery, TaskLogReader } from '../task/task-service.js';
import type { TaskManager } from '../task/task-manager.js';
import { isTerminal } from '../task/types.js';
import { timestamp } from './convert.js';
import { failStream, type WatchRegistry } from './streams.js';
import type { GetLogsRequest__Output } from '../proto/generated/titus/executor/v1/GetLogsRequest.js';
import type { GetLogsResponse } from '../proto/generated/titus/executor/v1/GetLogsResponse.js';
import type { LogLine as ProtoLogLine } from '../proto/generated/titus/executor/v1/LogLine.js';
import { toGrpcError } from './status-map.js';
import { parseTaskId } from './validate.js';
import { drained, sleepUnlessAborted } from '../common/abortable.js';

export interface LogsServiceDeps {
  readonly logs?: TaskLogReader;
  readonly tasks: Pick<TaskManager, 'get'>;
  readonly log: Logger;
}

export interface LogsRequest {
  readonly taskId: string;
  readonly tailLines: number;
  readonly sinceMs: number | undefined;
  readonly follow: boolean;
}

/** The latest time a Timestamp may name (9999-12-31T23:59:59Z), as in the proto's own rules. */
const MAX_SECONDS = 253_402_300_799;

const sinceSchema = z.object({
  seconds: z
    .union([z.string(), z.number()])
    .transform((s) => Number(s))
    .pipe(z.number().int('must be whole seconds').min(0, 'must not be before 1970').max(MAX_SECONDS, 'must be before the year 10000')),
  nanos: z.number().int().min(0, 'nanos must be 0-999999999').max(999_999_999, 'nanos must be 0-999999999').default(0),
});

/** A follow of a task that has not started its container yet waits for its logs this often. */
const NOT_STARTED_POLL_MS = 250;

export const parseLogsRequest = (req: GetLogsRequest__Output): LogsRequest => {
  const taskId = parseTaskId(req.taskId);
  const tail = req.tailLines ?? 0;
  if (!Number.isInteger(tail) || tail < 0) throw invalidArgument('tailLines', 'must be a whole number >= 0');
  let sinceMs: number | undefined;
  if (req.since !== undefined && req.since !== null) {
    const since = sinceSchema.safeParse(req.since);
    if (!since.success) throw invalidArgument('since', since.error.issues[0]?.message ?? 'is not a valid time');
    sinceMs = since.data.seconds * 1000 + Math.floor(since.data.nanos / 1_000_000);
  }
  return { taskId, tailLines: tail, sinceMs, follow: req.follow === true };
};

const toProtoLine = (l: LogLine): ProtoLogLine => ({
  timestamp: timestamp(l.timestampMs),
  stream: l.stream === 'stderr' ? 'LOG_STREAM_STDERR' : 'LOG_STREAM_STDOUT',
  text: l.text,
});

export const getLogs = (call: grpc.ServerWritableStream<GetLogsRequest__Output, GetLogsResponse>, deps: LogsServiceDeps, streams: WatchRegistry): void => {
  // Emitted, not passed to destroy(): grpc-js sends the status from its 'error' handler by
  // ending the stream, which a destroyed stream never does (the client would wait forever).
  const fail = (err: unknown): void => {
    failStream(call, toGrpcError(err, deps.log, 'GetLogs'));
  };
  let req: LogsRequest;
  try {
    req = parseLogsRequest(call.request);
  } catch (err) {
    return fail(err);
  }
  const reader = deps.logs;
  if (reader === undefined) return fail(new ExecutorError('UNIMPLEMENTED', 'this executor keeps no task logs'));
  const abort = new AbortController();
  let shuttingDown = false;
  const unregister = streams.add(() => {
    shuttingDown = true;
    abort.abort();
  });
  const stop = (): void => abort.abort();
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
  const query: LogQuery = {
    ...(req.tailLines > 0 ? { tailLines: req.tailLines } : {}),
    ...(req.sinceMs !== undefined ? { sinceMs: req.sinceMs } : {}),
    follow: req.follow,
    signal: abort.signal,
  };
  send(call, readWhenStarted(reader, deps.tasks, req.taskId, query), abort.signal)
    .then(() => {
      if (call.cancelled) return;
      if (shuttingDown) fail(new ExecutorError('UNAVAILABLE', 'the executor is shutting down; read the logs again once it is back'));
      else call.end();
    }, fail)
    .finally(unregister);
};

/** Writes each batch as one message, waiting while the client is slow to read. */
const send = async (
  call: grpc.ServerWritableStream<GetLogsRequest__Output, GetLogsResponse>,
  batches: AsyncIterable<readonly LogLine[]>,
  signal: AbortSignal,
): Promise<void> => {
  for await (const batch of batches) {
    if (signal.aborted || call.cancelled) return;
    if (!call.write({ lines: batch.map(toProtoLine) })) await drained(call, signal);
  }
};


/**
 * The task's logs; when following a task this host runs that has not started
 * its container yet (so has no logs yet), waits for them instead of answering
 * NOT_FOUND, so `logs -f` right after a launch works.
 */
async function* readWhenStarted(reader: TaskLogReader, tasks: Pick<TaskManager, 'get'>, taskId: string, query: LogQuery): AsyncGenerator<readonly LogLine[]> {
  for (;;) {
    const lines = reader.read(taskId, query)[Symbol.asyncIterator]();
    let first: IteratorResult<readonly LogLine[]>;
    try {
      first = await lines.next();
    } catch (err) {
      if (!query.follow || !isExecutorError(err, 'NOT_FOUND') || !isLiveTask(tasks, taskId)) throw err;
      await sleepUnlessAborted(NOT_STARTED_POLL_MS, query.signal);
      if (query.signal.aborted) return;
      continue;
    }
    try {
      for (let r = first; r.done !== true; r = await lines.next()) yield r.value;
    } finally {
      await lines.return?.();
    }
    return;
  }
}

const isLiveTask = (tasks: Pick<TaskManager, 'get'>, taskId: string): boolean => {
  try {
    return !isTerminal(tasks.get(taskId).state);
  } catch {
    return false; // unknown here: its NOT_FOUND stands
  }
};

