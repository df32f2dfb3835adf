/**
 * Typed errors shared by every part. Each carries a stable `code`; the gRPC
 * status for each code is decided in one place (src/api/status-map.ts), never
 * by matching message text.
 */
export type ExecutorErrorCode =
  | 'INVALID_ARGUMENT' // the request itself is wrong; the message names the field
  | 'NOT_FOUND' // an unknown task id
  | 'ALREADY_EXISTS' // the same task id with a different request
  | 'RESOURCE_EXHAUSTED' // the host has no room (CPU, memory, GPUs, addresses)
  | 'FAILED_PRECONDITION' // the host is not set up for this request
  | 'UNAVAILABLE' // the engine or the host is not accepting work right now
  | 'DEADLINE_EXCEEDED'
  | 'OUT_OF_RANGE' // a resume point older than the retained history
  | 'UNIMPLEMENTED' // a call this build does not serve
  | 'INTERNAL';

export class ExecutorError extends Error {
  readonly code: ExecutorErrorCode;
  /** A field path such as `containerInfo.imageName`, when one field is to blame. */
  readonly field: string | undefined;

  constructor(code: ExecutorErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ExecutorError';
    this.code = code;
    this.field = options.field;
  }
}

export const invalidArgument = (field: string, message: string): ExecutorError =>
  new ExecutorError('INVALID_ARGUMENT', `${field}: ${message}`, { field });

export const isExecutorError = (err: unknown, code?: ExecutorErrorCode): err is ExecutorError =>
  err instanceof ExecutorError && (code === undefined || err.code === code);

/** The message of anything thrown, for logs and status messages. */
export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
