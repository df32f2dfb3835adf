import type * as grpc from '@grpc/grpc-js';
import type { ExecutorConfig } from '../config/config.js';
import { ExecutorError } from '../common/errors.js';
import { setLongInterval } from '../common/long-timer.js';
import type { Logger } from '../common/log.js';
import type { TaskLogReader, TaskService } from '../task/task-service.js';
import type { StatusUpdate } from '../task/types.js';
import { drainToProto, hostResourcesToProto, taskToProto, timestamp, updateToProto } from './convert.js';
import type { TitusExecutorHandlers } from '../proto/generated/titus/executor/v1/TitusExecutor.js';
import type { TaskStatusEvent } from '../proto/generated/titus/executor/v1/TaskStatusEvent.js';
import type { WatchTaskStatusRequest__Output } from '../proto/generated/titus/executor/v1/WatchTaskStatusRequest.js';
import { getLogs } from './logs-service.js';
import { failStream, type WatchRegistry } from './streams.js';
import { parsePodLaunchRequest } from './pod-request.js';
import { toGrpcError } from './status-map.js';
import { parseKillRequest, parseLaunchRequest, parseListRequest, parseSetDrainRequest, parseTaskId, parseWatchRequest } from './validate.js';

export interface ServiceDeps {
  readonly tasks: TaskService;
  readonly config: ExecutorConfig;
  readonly log: Logger;
  readonly decodeContainerInfo: (b: Uint8Array) => unknown;
  /** The per-task log store (src/logs), for GetLogs. */
  readonly logs?: TaskLogReader;
}

type Callback<R> = (err: Partial<grpc.StatusObject> | null, value?: R) => void;

/** Completes every unary call exactly once, mapping thrown errors in one place. */
const unary =
  <Req, Res>(log: Logger, method: string, fn: (req: Req) => Res | Promise<Res>) =>
  (call: grpc.ServerUnaryCall<Req, Res>, callback: Callback<Res>): void => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toGrpcError(err, log, method)),
      );
  };

export const executorHandlers = (deps: ServiceDeps, watches: WatchRegistry): TitusExecutorHandlers => {
  const { tasks, config, log } = deps;
  return {
    LaunchTask: unary(log, 'LaunchTask', (req) => {
      const spec =
        req.container === 'pod'
          ? parsePodLaunchRequest(req, { defaults: config.defaultResources, decodeContainerInfo: deps.decodeContainerInfo, registry: config.docker.registry })
          : parseLaunchRequest(req, config.defaultResources, deps.decodeContainerInfo);
      const task = tasks.launch(spec);
      log.info({ taskId: spec.taskId, image: task.image }, 'task accepted');
      return { task: taskToProto(task) };
    }),
    KillTask: unary(log, 'KillTask', (req) => {
      const k = parseKillRequest(req);
      return { task: taskToProto(tasks.kill(k.taskId, k.reason, k.killWaitSeconds)) };
    }),
    GetTask: unary(log, 'GetTask', (req) => taskToProto(tasks.get(parseTaskId(req.taskId)))),
    ListTasks: unary(log, 'ListTasks', (req) => ({
      tasks: tasks.list(parseListRequest(req)).map((t) => taskToProto(t, false)),
    })),
    GetHostResources: unary(log, 'GetHostResources', async () => hostResourcesToProto(await tasks.hostResources())),
    WatchTaskStatus: (call) => watchTaskStatus(call, deps, watches),
    GetLogs: (call) => getLogs(call, deps, watches),
    SetDrain: unary(log, 'SetDrain', (req) => {
      const d = parseSetDrainRequest(req);
      return drainToProto(tasks.setDrain(d.draining, d.reason));
    }),
  };
};

/**
 * Snapshot, SnapshotEnd, the retained updates after `afterSequence`, then live
 * updates and keep-alives. The snapshot, the replay and the subscription are
 * taken in one synchronous step, so nothing is missed or sent twice.
 */
const watchTaskStatus = (
  call: grpc.ServerWritableStream<WatchTaskStatusRequest__Output, TaskStatusEvent>,
  deps: ServiceDeps,
  watches: WatchRegistry,
): void => {
  let req;
  try {
    req = parseWatchRequest(call.request);
  } catch (err) {
    failStream(call, toGrpcError(err, deps.log, 'WatchTaskStatus'));
    return;
  }
  const { tasks } = deps;
  const wanted = (u: StatusUpdate): boolean => req.taskIds.size === 0 || req.taskIds.has(u.taskId);
  const replay = req.afterSequence > 0 ? tasks.bus.since(req.afterSequence) : [];
  if (replay === undefined) {
    const oldest = tasks.bus.oldestSequence() ?? 0;
    const err = new ExecutorError(
      'OUT_OF_RANGE',
      `afterSequence ${req.afterSequence} is older than the retained history (oldest ${oldest}); resubscribe with sendSnapshot`,
    );
    failStream(call, toGrpcError(err, deps.log, 'WatchTaskStatus'));
    return;
  }
  const send = (e: TaskStatusEvent): void => {
    if (!call.cancelled && call.writable) call.write(e);
  };
  const unsubscribe = tasks.subscribe((u) => {
    if (wanted(u)) send({ update: updateToProto(u) });
  });
  if (req.sendSnapshot) {
    for (const u of tasks.snapshot(req.taskIds)) send({ update: updateToProto(u) });
    send({ snapshotEnd: { sequence: String(tasks.bus.latestSequence()) } });
  }
  for (const u of replay) if (wanted(u)) send({ update: updateToProto(u) });
  const seconds = req.keepAliveSeconds ?? deps.config.watch.keepAliveSeconds;
  // The period is the client's (bounded at the edge) or the config's: a long-delay interval either way.
  const timer = setLongInterval(() => {
    send({ keepAlive: { timestamp: timestamp(Date.now()), sequence: String(tasks.bus.latestSequence()) } });
  }, seconds * 1000);
  const close = (): void => {
    timer.clear();
    unsubscribe();
    unregister();
  };
  const unregister = watches.add(() => {
    close();
    call.end();
  });
  call.on('cancelled', close);
  call.on('close', close);
  call.on('error', close);
};
