import type { ContainerInfo } from './container-info.js';
import type { BindMount } from '../runtime/container-spec.js';
import type { PullProgress } from '../runtime/pull-progress.js';

export const TASK_STATES = [
  'ACCEPTED',
  'STARTING',
  'RUNNING',
  'KILL_INITIATED',
  'FINISHED',
  'FAILED',
  'KILLED',
  'LOST',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(['FINISHED', 'FAILED', 'KILLED', 'LOST']);
export const isTerminal = (s: TaskState): boolean => TERMINAL_STATES.has(s);

/** Titus' own state names, which a control-plane adapter maps to directly. */
export const TITUS_STATE: Readonly<Record<TaskState, string>> = {
  ACCEPTED: 'Launched',
  STARTING: 'StartInitiated',
  RUNNING: 'Started',
  KILL_INITIATED: 'KillInitiated',
  FINISHED: 'Finished',
  FAILED: 'Finished',
  KILLED: 'Finished',
  LOST: 'Finished',
};

/** Titus reason codes (control plane TaskStatus.java). */
export type ReasonCode =
  | 'normal'
  | 'failed'
  | 'killed'
  | 'lost'
  | 'invalidRequest'
  | 'crashed'
  | 'transientSystemError'
  | 'localSystemError'
  | 'runtimeLimitExceeded'
  | 'stuckInState';

export interface TaskResources {
  readonly cpu: number;
  readonly memoryMb: number;
  readonly diskMb: number;
  readonly networkMbps: number;
  readonly gpus: number;
}

export interface ExitInfo {
  readonly exitCode: number;
  readonly oomKilled: boolean;
  readonly signal?: string;
}

// The runtime adapter reports pull progress in its own words; the core shows it as it is.
export type { PullProgress } from '../runtime/pull-progress.js';

export interface NetworkDetails {
  readonly isRoutableIp: boolean;
  readonly ipv4Address?: string;
  readonly ipv6Address?: string;
  readonly eniId?: string;
  readonly networkMode?: string;
  readonly hostname?: string;
}

export interface StatusUpdate {
  readonly taskId: string;
  readonly sequence: number;
  readonly timestampMs: number;
  readonly state: TaskState;
  readonly message: string;
  readonly titusState: string;
  readonly reasonCode: ReasonCode;
  readonly containerId?: string;
  readonly exit?: ExitInfo;
  readonly pull?: PullProgress;
  readonly network?: NetworkDetails;
}

/** A validated launch, as the runtime receives it. */
export interface LaunchSpec {
  readonly taskId: string;
  readonly containerInfo: ContainerInfo;
  readonly resources: TaskResources;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Optional extras for control planes whose requests ContainerInfo cannot
   * express (Kubernetes pods through interLink): host paths bind-mounted into
   * the container, labels on the container itself (the executor's own win),
   * and a hostname instead of the one derived from the task id.
   */
  readonly mounts?: readonly BindMount[];
  readonly containerLabels?: Readonly<Record<string, string>>;
  readonly hostname?: string;
  /** The process's working directory instead of the image's (absolute). */
  readonly workingDir?: string;
  /** Killed with reason runtimeLimitExceeded this long after it started; absent: no limit. */
  readonly runtimeLimitSeconds?: number;
  /** The image's filesystem is mounted read-only (a pod's readOnlyRootFilesystem); mounts and tmpfs stay writable. */
  readonly readOnlyRootFilesystem?: boolean;
  /**
   * Tasks with the same key share one network namespace and hostname, held by
   * a pause container that outlives each of them (a Kubernetes pod's
   * containers talk over localhost). Whoever owns the key removes it.
   */
  readonly sharedNetwork?: SharedNetworkRequest;
  /**
   * A Docker config.json with credentials only this task may pull with (a
   * pod's imagePullSecrets), tried before the executor's own. A path, so the
   * secrets stay out of task records and status.
   */
  readonly pullAuthsFile?: string;
}

export interface SharedNetworkRequest {
  /** A pod UID: letters, digits, `-`, `_` and `.`. */
  readonly key: string;
  readonly hostname: string;
}

export interface TaskView {
  readonly taskId: string;
  readonly state: TaskState;
  readonly resources: TaskResources;
  readonly containerInfo: ContainerInfo;
  readonly labels: Readonly<Record<string, string>>;
  readonly image: string;
  readonly containerId?: string;
  readonly lastUpdate: StatusUpdate;
  readonly history: readonly StatusUpdate[];
  readonly acceptedAtMs: number;
  readonly startedAtMs?: number;
  readonly finishedAtMs?: number;
  readonly outputTail?: string;
  readonly runtimeLimitSeconds?: number;
}
