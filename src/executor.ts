import type { ExecutorConfig } from './config/config.js';
import type { Logger } from './common/log.js';
import { ExecutorServer } from './api/server.js';
import type { ContainerRuntime } from './runtime/container-runtime.js';
import type { TaskPart } from './task/task-part.js';
import { TaskManager } from './task/task-manager.js';
import { TaskStore } from './task/task-store.js';
import type { RecoveryReport } from './task/task-recovery.js';
import { EngineMonitor } from './runtime/engine-monitor.js';
import { recoverGpuLeases } from './parts/create-gpu-part.js';
import { createSharedNetworkPart } from './parts/create-network-part.js';
import { createOwnNamespacePart } from './parts/create-own-namespace-part.js';
import { composeHostParts, createDockerRuntime } from './compose.js';
import { startNetworkRecovery } from './parts/network-part.js';
import { createSandboxPool } from './parts/create-sandbox-pool.js';
import type { SharedNetworks } from './parts/shared-network-part.js';
import { readPublishedTaskViews } from './task/published-tasks.js';
import { InstrumentedRuntime, Metrics, MetricsServer } from './metrics/index.js';
import { checkMetadataProxyConfig, startMetadataService, type MetadataService } from './parts/metadata-service.js';
import { startTaskLogStore, type TaskLogStore } from './logs/index.js';
import { createLogUploadPart } from './parts/log-upload-part.js';
import { startInterlinkIfEnabled, type Interlink } from './k8s/index.js';

export interface Executor {
  readonly tasks: TaskManager;
  readonly server: ExecutorServer;
  readonly runtime: ContainerRuntime;
  readonly metrics: Metrics;
  /** The metadata proxy serving the tasks (metadataProxy.enabled), else undefined. */
  readonly metadata: MetadataService | undefined;
  /** Settles when tasks read back from the store are re-attached (at once on a first start). */
  readonly recovered: Promise<RecoveryReport>;
  /** Whether the container engine is reachable now. */
  readonly engine: EngineMonitor;
  /** Each task's stdout and stderr (GetLogs). */
  readonly logs: TaskLogStore;
  /** The interLink plugin API (interlink.enabled), else undefined. */
  readonly interlink: Interlink | undefined;
  stop(): Promise<void>;
}

/** A busy metrics port is an operator's problem to fix, not a reason to stop running tasks. */
const startMetricsServer = async (metrics: Metrics, listen: string | null, log: Logger): Promise<MetricsServer | undefined> => {
  if (listen === null) return undefined;
  const server = new MetricsServer(metrics, listen, log);
  try {
    await server.start();
    return server;
  } catch (err) {
    log.error({ listen, err: (err as Error).message }, 'metrics endpoint not started; set metrics.listen to a free address or null');
    return undefined;
  }
};

/** Removes the shared networks of pods the interLink service does not have (all of them when it is off). */
const removeStaleSharedNetworks = async (shared: SharedNetworks, interlink: Interlink | undefined, engine: EngineMonitor, log: Logger): Promise<void> => {
  try {
    await engine.whenUp();
    await shared.removeAllExcept(new Set(interlink?.service.podUids() ?? []));
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not remove the shared networks of pods that are gone');
  }
};

/** The composition root: builds the parts, injects them, starts the API. */
export const startExecutor = async (config: ExecutorConfig, log: Logger, parts: readonly TaskPart[] = []): Promise<Executor> => {
  checkMetadataProxyConfig(config); // a proxy that cannot work refuses to start before anything else does
  const { runtime, registryAuth } = await createDockerRuntime(config, log);
  const engineMonitor = new EngineMonitor(runtime, log);
  await engineMonitor.start();
  const engine = await runtime.version().catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'container engine not reachable yet; launches are refused until it is');
    return 'unreachable';
  });
  log.info({ engine, dockerHost: config.docker.host, executorId: config.executorId }, 'container engine');
  // The same parts as run-task builds (src/compose.ts), then their recovery.
  const { gpu, network, volumes } = await composeHostParts(config, runtime, log, { network: true });
  if (engine !== 'unreachable') {
    await recoverGpuLeases(runtime, gpu, config.executorId, log).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'could not re-derive GPU leases from the engine; task recovery tries again');
      gpu.holdUntilReconciled();
    });
  } else {
    gpu.holdUntilReconciled(); // task recovery re-derives them once the engine answers
  }
  // Tasks that outlived a restart keep their networks, the rest is collected; retried while the engine is down.
  if (network !== undefined) await startNetworkRecovery(runtime, network, config.executorId, log);
  const shared = createSharedNetworkPart(config, runtime, log);
  // Serve only: run-task launches one task, a pool would be made for nothing.
  const pooled = await createSandboxPool(config, runtime, log);
  // With the local driver the network part takes from the pool itself (and attaches per task after the take).
  if (pooled !== undefined && network !== undefined) network.usePool(pooled.pool, pooled.runtime);
  // Without a driver a task gets a namespace from the OCI runtime, or from the pool when it has one ready.
  const taskNamespace =
    network === undefined ? await createOwnNamespacePart(config, runtime, log, pooled?.part) : pooled?.part;
  const metrics = new Metrics();
  // Listening, with the redirect of 169.254.169.254 loaded, before the first task can start.
  const metadata = await startMetadataService(config, runtime, log, (route, status) => metrics.recordMetadataRequest(route, status), network);
  const instrumented = new InstrumentedRuntime(runtime, metrics);
  const logs = await startTaskLogStore(config, instrumented, log, {
    onPaused: () => metrics.logCopyPauses.inc(),
    onDropped: (lines) => metrics.logLinesDropped.inc(lines),
  });
  const logUpload = createLogUploadPart(logs.uploader, config.logUpload);
  const tasks = new TaskManager({
    // The network part keeps the plain runtime: it needs the sandbox calls the metrics wrapper does not forward.
    runtime: instrumented,
    output: logs,
    config,
    log,
    // The metadata part right after the network part: released (task detached) before the address is.
    // Volumes after the GPUs: mounted before the network is set up, unmounted after it is gone.
    parts: [gpu, volumes, ...(taskNamespace !== undefined ? [taskNamespace] : []), ...(network !== undefined ? [network] : []), ...(shared !== undefined ? [shared] : []), ...(metadata !== undefined ? [metadata.part] : []), logUpload, ...parts],
    externalTasks: () => readPublishedTaskViews(config.runTaskDir),
    store: new TaskStore(config.stateDir, { onWriteFailed: () => metrics.stateWriteFailures.inc() }),
    engine: engineMonitor,
  });
  metrics.observeBus(tasks.bus);
  metrics.trackHeldUpdates(() => tasks.heldUpdates());
  const drain = tasks.drainState();
  if (drain.draining) log.warn({ reason: drain.reason, sinceMs: drain.sinceMs }, 'this host is drained: launches are refused until `titus-executor drain off`');
  // Every stored task is known before the API opens (synchronously, here); re-attaching
  // to containers and removing strays goes on in the background, once the engine answers.
  const recovered = tasks.recover();
  recovered.then(
    (report) => log.info(report, 'task recovery done'),
    (err: unknown) => log.error({ err: (err as Error).message }, 'task recovery failed'),
  );
  metadata?.connect(tasks);
  metrics.trackGpusInUse(() => gpu.capacity().gpuDevices?.filter((d) => d.taskId !== undefined).length ?? 0);
  if (network !== undefined) metrics.trackAddressesInUse(() => network.addressesInUse());
  const server = new ExecutorServer(tasks, config, log, metrics, logs);
  await server.start().catch(async (err: unknown) => {
    await logs.stop();
    await pooled?.pool.stop();
    await metadata?.stop(); // no redirect left behind pointing at a proxy that is gone
    throw err;
  });
  const metricsServer = await startMetricsServer(metrics, config.metrics.listen, log);
  // After recovery has restored the task records, so the pods' tasks are known again.
  const interlink = await startInterlinkIfEnabled({
    tasks,
    config,
    log,
    logs,
    isDraining: () => tasks.drainState().draining,
    ...(shared !== undefined ? { sharedNetworks: shared } : {}),
  });
  // Pods' shared networks outlive executors; those of pods it no longer has go, once the engine answers.
  if (shared !== undefined) void removeStaleSharedNetworks(shared, interlink, engineMonitor, log);
  return {
    tasks,
    server,
    runtime,
    metrics,
    metadata,
    recovered,
    engine: engineMonitor,
    logs,
    interlink,
    stop: async () => {
      await interlink?.stop();
      tasks.abandon();
      // Idle pooled sandboxes go; those tasks joined stay with them (the next executor adopts them).
      await pooled?.pool.stop();
      engineMonitor.stop();
      await server.stop();
      await logs.stop();
      await metadata?.stop();
      await metricsServer?.stop();
      registryAuth.close();
    },
  };
};
