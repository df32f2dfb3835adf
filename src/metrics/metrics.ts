import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StatusBus } from '../task/status-bus.js';
import { LAUNCH_PHASES, LIVE_STATES } from './label-values.js';
import { TaskMetricsObserver } from './task-observer.js';

/** From a millisecond to five minutes: a launch phase is a few ms on a warm host, a pull can take minutes. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface MetricsOptions {
  /** Node process metrics (RSS, heap, event-loop lag, GC) under the same prefix; default true. */
  readonly processMetrics?: boolean;
}

/**
 * Every series the executor exports, in a registry of its own (never
 * prom-client's global one), so several executors in one process (tests) do
 * not share counters. Recording goes through the typed fields; deriving them
 * is done by the observers in this folder.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly tasks = new Gauge({
    name: 'titus_executor_tasks',
    help: 'Tasks on this host by live state (ACCEPTED, STARTING, RUNNING, KILL_INITIATED)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly tasksEnded = new Counter({
    name: 'titus_executor_tasks_ended_total',
    help: 'Tasks that reached a terminal state, by state and Titus reason code',
    labelNames: ['state', 'reason'] as const,
    registers: [this.registry],
  });

  readonly launches = new Counter({
    name: 'titus_executor_launches_total',
    help: 'Tasks accepted for launch',
    registers: [this.registry],
  });

  readonly launchFailures = new Counter({
    name: 'titus_executor_launch_failures_total',
    help: 'Tasks that ended FAILED or LOST before they were RUNNING, by Titus reason code',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly launchPhaseSeconds = new Histogram({
    name: 'titus_executor_launch_phase_seconds',
    help: 'Duration of each launch phase: admission (accepted to image check), pull (image check, pull, GPUs), create, start',
    labelNames: ['phase'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly launchSeconds = new Histogram({
    name: 'titus_executor_launch_seconds',
    help: 'From ACCEPTED to RUNNING',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly killSeconds = new Histogram({
    name: 'titus_executor_kill_seconds',
    help: 'From KILL_INITIATED to the terminal state (stop, grace period, cleanup)',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly imagePullBytes = new Counter({
    name: 'titus_executor_image_pull_bytes_total',
    help: 'Bytes downloaded by image pulls',
    registers: [this.registry],
  });

  readonly imagePullSeconds = new Histogram({
    name: 'titus_executor_image_pull_seconds',
    help: 'Duration of image pulls, by result (ok, error)',
    labelNames: ['result'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly engineErrors = new Counter({
    name: 'titus_executor_engine_errors_total',
    help: 'Container engine calls that failed, by operation and failure kind',
    labelNames: ['operation', 'kind'] as const,
    registers: [this.registry],
  });

  readonly engineCallSeconds = new Histogram({
    name: 'titus_executor_engine_call_seconds',
    help: 'Duration of container engine calls, by operation',
    labelNames: ['operation'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  readonly grpcCalls = new Counter({
    name: 'titus_executor_grpc_calls_total',
    help: 'gRPC calls served, by service, method and status code',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [this.registry],
  });

  /** Where the GPU count comes from; read at each scrape. */
  private readGpusInUse: (() => number) | undefined;

  readonly gpusInUse: Gauge = new Gauge({
    name: 'titus_executor_gpus_in_use',
    help: 'GPUs currently leased to tasks',
    registers: [this.registry],
    // prom-client calls collect() right before it serialises the series.
    collect: () => {
      if (this.readGpusInUse !== undefined) this.gpusInUse.set(this.readGpusInUse());
    },
  });

  private readAddressesInUse: (() => { ipv4: number; ipv6: number }) | undefined;

  readonly addressesInUse: Gauge = new Gauge({
    name: 'titus_executor_addresses_in_use',
    help: 'Task addresses leased from the network pools, by family',
    labelNames: ['family'],
    registers: [this.registry],
    collect: () => {
      const used = this.readAddressesInUse?.();
      if (used === undefined) return;
      this.addressesInUse.set({ family: 'ipv4' }, used.ipv4);
      this.addressesInUse.set({ family: 'ipv6' }, used.ipv6);
    },
  });

  readonly metadataRequests = new Counter({
    name: 'titus_executor_metadata_requests_total',
    help: 'Requests answered by the metadata proxy, by route class (never the raw path) and HTTP status',
    labelNames: ['route', 'code'],
    registers: [this.registry],
  });

  readonly stateWriteFailures = new Counter({
    name: 'titus_executor_state_write_failures_total',
    help: 'Task record writes the state directory refused (full, read-only); the update each carried is held, not streamed, and retried',
    registers: [this.registry],
  });

  private readHeldUpdates: (() => number) | undefined;

  readonly heldUpdates: Gauge = new Gauge({
    name: 'titus_executor_held_updates',
    help: 'Task status updates decided but not streamed yet, because the state directory cannot record them',
    registers: [this.registry],
    collect: () => {
      if (this.readHeldUpdates !== undefined) this.heldUpdates.set(this.readHeldUpdates());
    },
  });

  readonly logCopyPauses = new Counter({
    name: 'titus_executor_task_log_pauses_total',
    help: "Times a task's output stopped being stored because the logs filesystem was down to its reserve (logs.reserveMb)",
    registers: [this.registry],
  });

  readonly logLinesDropped = new Counter({
    name: 'titus_executor_task_log_dropped_lines_total',
    help: 'Task output lines not stored because the logs filesystem was down to its reserve (logs.reserveMb)',
    registers: [this.registry],
  });

  trackHeldUpdates(read: () => number): void {
    this.readHeldUpdates = read;
  }

  recordMetadataRequest(route: string, status: number): void {
    this.metadataRequests.inc({ route, code: String(status) });
  }

  trackAddressesInUse(read: () => { ipv4: number; ipv6: number }): void {
    this.readAddressesInUse = read;
  }

  constructor(options: MetricsOptions = {}) {
    // Series exist from the first scrape, so dashboards and alerts see 0, not absence.
    for (const state of LIVE_STATES) this.tasks.set({ state }, 0);
    for (const phase of LAUNCH_PHASES) this.launchPhaseSeconds.zero({ phase });
    this.gpusInUse.set(0);
    this.heldUpdates.set(0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'titus_executor_' });
  }

  /** Derives the task series from every update on `bus`; returns the unsubscribe function. */
  observeBus(bus: StatusBus): () => void {
    return new TaskMetricsObserver(this).observe(bus);
  }

  /** Reads the GPU count at each scrape, e.g. `() => allocator.inUse()`. */
  trackGpusInUse(read: () => number): void {
    this.readGpusInUse = read;
  }

  /** The text exposition of every series. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
