/**
 * gRPC calls by service, method and status code. The server interceptor sees
 * every call (unary and streaming, health and reflection too) as its status
 * is sent, so the service code needs no change.
 */
import * as grpc from '@grpc/grpc-js';
import type { Metrics } from './metrics.js';

/** `/titus.executor.v1.TitusExecutor/LaunchTask` → service and method. */
export const splitMethodPath = (path: string): { service: string; method: string } => {
  const [service = 'unknown', method = 'unknown'] = path.replace(/^\//, '').split('/');
  return { service, method };
};

/** The canonical status name, e.g. 2 → "UNKNOWN", 3 → "INVALID_ARGUMENT". */
export const statusName = (code: number): string => grpc.status[code] ?? String(code);

/** Counts one finished call; for a unary wrapper: `recordGrpcCall(metrics, 'TitusExecutor', 'LaunchTask', err?.code ?? 0)`. */
export const recordGrpcCall = (metrics: Metrics, service: string, method: string, code: number): void => {
  metrics.grpcCalls.inc({ service, method, code: statusName(code) });
};

/** For `new grpc.Server({ interceptors: [grpcMetricsInterceptor(metrics)] })`. */
export const grpcMetricsInterceptor =
  (metrics: Metrics): grpc.ServerInterceptor =>
  (descriptor, call) => {
    const { service, method } = splitMethodPath(descriptor.path);
    return new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        recordGrpcCall(metrics, service, method, status.code);
        next(status);
      },
    });
  };
