import type { ExecutorErrorCode } from '../common/errors.js';
import { isTerminal, type ExitInfo, type StatusUpdate, type TaskState, type TaskView } from '../task/types.js';

/**
 * What this host knows of one pod container, kept current from the task
 * core's status updates (never by asking the engine) and persisted once the
 * container has ended.
 */
export interface ContainerRecord {
  /** Absent until the container's task is launched. */
  readonly state?: TaskState;
  readonly message?: string;
  readonly containerId?: string;
  readonly startedAtMs?: number;
  readonly finishedAtMs?: number;
  readonly exit?: ExitInfo;
  /** The launch was refused (no room, invalid request): the container never ran. */
  readonly refused?: { readonly code: ExecutorErrorCode; readonly message: string };
  /** Launched before a restart, unknown to the task core after it. */
  readonly lost?: boolean;
  /** Waiting to run again (restartPolicy) until then: kubelet's CrashLoopBackOff. */
  readonly backoffUntilMs?: number;
  /** Never to run: the pod gave up before it (why). Only in answers, never stored. */
  readonly skipped?: string;
}

export const isEnded = (r: ContainerRecord): boolean =>
  r.refused !== undefined || r.lost === true || r.skipped !== undefined || (r.state !== undefined && isTerminal(r.state));

/** Ended with exit code 0. */
export const isSucceeded = (r: ContainerRecord): boolean => r.state === 'FINISHED' && (r.exit?.exitCode ?? 0) === 0;

export const applyUpdate = (r: ContainerRecord, u: StatusUpdate): ContainerRecord => ({
  ...r,
  state: u.state,
  message: u.message,
  ...(u.containerId !== undefined ? { containerId: u.containerId } : {}),
  // RUNNING may repeat (notes on a running task): the first one is when it started.
  ...(u.state === 'RUNNING' && r.startedAtMs === undefined ? { startedAtMs: u.timestampMs } : {}),
  ...(isTerminal(u.state) ? { finishedAtMs: u.timestampMs } : {}),
  ...(u.exit !== undefined ? { exit: u.exit } : {}),
});

/** The record of a task the task core already knows (after a restart, or a repeated create). */
export const recordFromView = (v: TaskView): ContainerRecord => {
  const running = v.history.find((u) => u.state === 'RUNNING');
  const started = v.startedAtMs ?? running?.timestampMs;
  const containerId = v.containerId ?? v.lastUpdate.containerId;
  return {
    state: v.state,
    message: v.lastUpdate.message,
    ...(containerId !== undefined ? { containerId } : {}),
    ...(started !== undefined ? { startedAtMs: started } : {}),
    ...(isTerminal(v.state) ? { finishedAtMs: v.finishedAtMs ?? v.lastUpdate.timestampMs } : {}),
    ...(v.lastUpdate.exit !== undefined ? { exit: v.lastUpdate.exit } : {}),
  };
};

/** v1.ContainerStatus, as interLink passes it on to the cluster. */
export interface K8sContainerStatus {
  readonly name: string;
  readonly state: {
    readonly waiting?: { reason: string; message?: string };
    readonly running?: { startedAt: string };
    readonly terminated?: {
      exitCode: number;
      reason: string;
      message?: string;
      startedAt?: string;
      finishedAt?: string;
      containerID?: string;
    };
  };
  /** The previous run's end, once the container was restarted. */
  readonly lastState: { readonly terminated?: NonNullable<K8sContainerStatus['state']['terminated']> };
  readonly ready: boolean;
  readonly restartCount: number;
  readonly image: string;
  readonly imageID: string;
  readonly containerID?: string;
  readonly started: boolean;
}

/** metav1.Time marshals as RFC 3339 in whole seconds. */
export const k8sTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Why a refused launch never ran, in kubelet's words. */
const REFUSED_REASON: Partial<Record<ExecutorErrorCode, string>> = {
  RESOURCE_EXHAUSTED: 'UnexpectedAdmissionError',
  INVALID_ARGUMENT: 'CreateContainerConfigError',
};

type State = K8sContainerStatus['state'];

const terminated = (r: ContainerRecord, exitCode: number, reason: string, message?: string): State => {
  const finished = r.finishedAtMs ?? Date.now();
  return {
    terminated: {
      exitCode,
      reason,
      ...(message !== undefined && message !== '' ? { message } : {}),
      startedAt: k8sTime(r.startedAtMs ?? finished),
      finishedAt: k8sTime(finished),
      ...(r.containerId !== undefined ? { containerID: `docker://${r.containerId}` } : {}),
    },
  };
};

/** Why a container never ran because its pod gave up (interLink's virtual kubelet then fails the pod). */
export const NOT_STARTED_REASON = 'InitContainerFailed';

/** An ended task's terminated state: OOMKilled, Completed or Error by its exit; no exit means it never ran to one. */
const endedState = (r: ContainerRecord): State => {
  // Exit 0: the pod's failure is its init container's (its exit code is the one that counts, for the
  // virtual kubelet's pod reason and for a Job's podFailurePolicy); this one did nothing.
  if (r.skipped !== undefined) return terminated(r, 0, NOT_STARTED_REASON, r.skipped);
  if (r.refused !== undefined) return terminated(r, 128, REFUSED_REASON[r.refused.code] ?? 'StartError', r.refused.message);
  if (r.lost === true) return terminated(r, 137, 'ContainerStatusUnknown', 'the container could not be located when the executor restarted');
  const exit = r.exit;
  if (exit !== undefined) {
    const reason = exit.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error';
    return terminated(r, exit.exitCode, reason, exit.exitCode === 0 && !exit.oomKilled ? undefined : r.message);
  }
  if (r.state === 'LOST') return terminated(r, 137, 'ContainerStatusUnknown', r.message);
  if (r.state === 'KILLED') return terminated(r, 137, 'Error', r.message);
  return terminated(r, 128, 'StartError', r.message);
};

const stateOf = (r: ContainerRecord): State => {
  if (isEnded(r)) return endedState(r);
  switch (r.state) {
    case undefined:
      if (r.backoffUntilMs !== undefined) return { waiting: { reason: 'CrashLoopBackOff', ...(r.message !== undefined ? { message: r.message } : {}) } };
      // A message here is why its launch is being retried (engine down, host draining).
      return r.message === undefined ? { waiting: { reason: 'PodInitializing' } } : { waiting: { reason: 'ContainerCreating', message: r.message } };
    case 'ACCEPTED':
    case 'STARTING':
      return { waiting: { reason: 'ContainerCreating', ...(r.message !== undefined ? { message: r.message } : {}) } };
    default:
      return { running: { startedAt: k8sTime(r.startedAtMs ?? Date.now()) } };
  }
};

/** How often the container was restarted, and how its previous run ended. */
export interface RunHistory {
  readonly restarts: number;
  readonly previous?: ContainerRecord;
}

/** The container's v1.ContainerStatus. */
export const toContainerStatus = (name: string, image: string, init: boolean, r: ContainerRecord, runs: RunHistory = { restarts: 0 }): K8sContainerStatus => {
  const state = stateOf(r);
  const running = state.running !== undefined;
  return {
    name,
    state,
    lastState: runs.previous !== undefined ? endedState(runs.previous) : {},
    // No probes: a running container is ready; an init container once it completed.
    ready: init ? state.terminated?.exitCode === 0 && r.skipped === undefined : running,
    restartCount: runs.restarts,
    image,
    imageID: '',
    ...(r.containerId !== undefined ? { containerID: `docker://${r.containerId}` } : {}),
    started: running,
  };
};
