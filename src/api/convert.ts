import type { DrainStatus } from '../task/task-service.js';
import type { HostResourcesView } from '../task/task-manager.js';
import type { DrainState } from '../proto/generated/titus/executor/v1/DrainState.js';
import type { StatusUpdate, TaskResources, TaskView } from '../task/types.js';
import type { HostResources } from '../proto/generated/titus/executor/v1/HostResources.js';
import type { Resources } from '../proto/generated/titus/executor/v1/Resources.js';
import type { Task } from '../proto/generated/titus/executor/v1/Task.js';
import type { TaskStatusUpdate } from '../proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import type { Timestamp } from '../proto/generated/google/protobuf/Timestamp.js';
import type { TaskState as ProtoTaskState } from '../proto/generated/titus/executor/v1/TaskState.js';
import type { ContainerInfo } from '../proto/generated/messages/ContainerInfo.js';

/** Domain values to the proto's message objects; nothing here decides anything. */
export const timestamp = (ms: number): Timestamp => ({
  seconds: String(Math.floor(ms / 1000)),
  nanos: (ms % 1000) * 1_000_000,
});

export const stateToProto = (s: StatusUpdate['state']): ProtoTaskState => `TASK_STATE_${s}` as ProtoTaskState;

export const resourcesToProto = (r: TaskResources): Resources => ({
  cpu: r.cpu,
  memoryMb: r.memoryMb,
  diskMb: r.diskMb,
  networkMbps: r.networkMbps,
  gpus: r.gpus,
});

export const updateToProto = (u: StatusUpdate): TaskStatusUpdate => ({
  taskId: u.taskId,
  sequence: String(u.sequence),
  timestamp: timestamp(u.timestampMs),
  state: stateToProto(u.state),
  message: u.message,
  titusState: u.titusState,
  reasonCode: u.reasonCode,
  ...(u.containerId !== undefined ? { containerId: u.containerId } : {}),
  ...(u.exit !== undefined ? { exit: { exitCode: u.exit.exitCode, oomKilled: u.exit.oomKilled, signal: u.exit.signal ?? '' } } : {}),
  ...(u.pull !== undefined ? { pull: { ...u.pull, currentBytes: String(u.pull.currentBytes), totalBytes: String(u.pull.totalBytes) } } : {}),
  ...(u.network !== undefined ? { network: { ...u.network } } : {}),
});

export const taskToProto = (t: TaskView, withHistory = true): Task => ({
  taskId: t.taskId,
  state: stateToProto(t.state),
  resources: resourcesToProto(t.resources),
  containerInfo: t.containerInfo as ContainerInfo,
  lastUpdate: updateToProto(t.lastUpdate),
  history: withHistory ? t.history.map(updateToProto) : [],
  acceptedAt: timestamp(t.acceptedAtMs),
  ...(t.startedAtMs !== undefined ? { startedAt: timestamp(t.startedAtMs) } : {}),
  ...(t.finishedAtMs !== undefined ? { finishedAt: timestamp(t.finishedAtMs) } : {}),
  image: t.image,
  containerId: t.containerId ?? '',
  labels: { ...t.labels },
  outputTail: t.outputTail ?? '',
  runtimeLimitSeconds: t.runtimeLimitSeconds ?? 0,
});

export const hostResourcesToProto = (h: HostResourcesView): HostResources => ({
  total: resourcesToProto(h.total),
  allocated: resourcesToProto(h.allocated),
  runningTasks: h.runningTasks,
  engineVersion: h.engineVersion,
  hostname: h.hostname,
  status: [...h.partStatus],
  gpus: h.gpuDevices.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, memoryMib: g.memoryMiB, pciBusId: g.pciBusId, taskId: g.taskId ?? '' })),
  drain: drainToProto(h.drain),
  available: resourcesToProto(h.available),
  disks: h.disks.map((d) => ({ path: d.path, totalMb: String(d.totalMb), availableMb: String(d.availableMb) })),
  nics: h.nics.map((n) => ({ name: n.name, speedMbps: n.speedMbps, addresses: [...n.addresses] })),
  diskQuota: { ...h.diskQuota },
});

/** `since` is left unset for a host that was never drained. */
export const drainToProto = (d: DrainStatus): DrainState => ({
  draining: d.draining,
  reason: d.reason,
  ...(d.sinceMs > 0 ? { since: timestamp(d.sinceMs) } : {}),
});
