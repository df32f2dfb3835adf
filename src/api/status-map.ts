import * as grpc from '@grpc/grpc-js';
import { ExecutorError, errorMessage, type ExecutorErrorCode } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { isRuntimeError } from '../task/task-service.js';

const CODES: Readonly<Record<ExecutorErrorCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  OUT_OF_RANGE: grpc.status.OUT_OF_RANGE,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  INTERNAL: grpc.status.INTERNAL,
};

/** The one place an error becomes a gRPC status. */
export const toGrpcError = (err: unknown, log: Logger, method: string): Partial<grpc.StatusObject> => {
  if (err instanceof ExecutorError) return { code: CODES[err.code], details: err.message };
  if (isRuntimeError(err, 'engine-unavailable')) return { code: grpc.status.UNAVAILABLE, details: err.message };
  // The log keeps the error; the reply does not: an unexpected error's text can name paths, hosts or secrets of this host.
  log.error({ method, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined }, 'unexpected error in handler');
  return { code: grpc.status.INTERNAL, details: `internal error in ${method} (the executor's log has the cause)` };
};
