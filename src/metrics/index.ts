export { Metrics, type MetricsOptions } from './metrics.js';
export { LAUNCH_PHASES, LIVE_STATES, type LaunchPhase } from './label-values.js';
export { TaskMetricsObserver } from './task-observer.js';
export { InstrumentedRuntime } from './instrumented-runtime.js';
export { grpcMetricsInterceptor, recordGrpcCall, statusName } from './grpc-calls.js';
export { MetricsServer } from './metrics-server.js';
export { parseListenAddress } from './listen-address.js';
