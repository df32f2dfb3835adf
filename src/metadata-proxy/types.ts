
/**
 * What the proxy knows about one task: everything it answers from, fed by the
 * runtime when the task's network is up (see docs/metadata-proxy.md).
 */
export interface TaskIdentityInfo {
  readonly taskId: string;
  /** The addresses the task's traffic comes from (anti-spoofed by the networking layer). */
  readonly ipv4Address?: string;
  readonly ipv6Address?: string;
  /** The MAC of the task's interface; IMDS clients read it, `00:00:00:00:00:00` when unknown. */
  readonly mac?: string;
  readonly hostname?: string;
  /** Placement of the task; when absent the host's (config, else the upstream IMDS) is used. */
  readonly availabilityZone?: string;
  readonly availabilityZoneId?: string;
  readonly region?: string;
  /** ContainerInfo.iamProfile: the role ARN the proxy assumes for this task; none means no `iam/`. */
  readonly iamRoleArn?: string;
  /** The image reference the task runs, as the runtime resolved it. */
  readonly image: string;
  /** When the executor accepted the task, and when its container started (epoch ms). */
  readonly acceptedAtMs: number;
  readonly startedAtMs?: number;
  /** The task's ContainerInfo, embedded in the signed identity document. */
  readonly containerInfo: { readonly [field: string]: unknown };
  /** IMDSv2 only for this task; undefined means the host setting (`metadataProxy.requireToken`). */
  readonly requireToken?: boolean;
  /**
   * Re-derived from what survives an executor restart (container labels) rather
   * than from the launch: `containerInfo` holds only what the labels tell and the
   * times are the recovery's, so no signed identity is issued for it (`503`).
   */
  readonly partial?: boolean;
}

/** The seam between the proxy and whoever knows which address belongs to which task. */
export interface TaskDirectory {
  /** The task whose traffic comes from this (normalised) source address, if any. */
  taskByAddress(ip: string): TaskIdentityInfo | undefined;
  /** The task with this id, if it is still attached. */
  taskById(taskId: string): TaskIdentityInfo | undefined;
}

/** Optional: a directory that tells the proxy when tasks come and go. */
export interface TaskDirectoryEvents {
  onChange(listener: TaskDirectoryListener): () => void;
}

export interface TaskDirectoryListener {
  attached?(task: TaskIdentityInfo): void;
  detached?(taskId: string): void;
}

/** Milliseconds since the epoch; injectable so tests can move time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** Temporary credentials of a task's role, as STS issued them. */
export interface RoleCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expirationMs: number;
  readonly assumedRoleId: string;
  readonly assumedRoleArn: string;
}

/** What went wrong with a task's role, for callers that word it themselves. */
export interface CredentialErrorDetail {
  readonly roleArn: string;
  /** STS's error code (`AccessDenied`, …), `NetworkError`, or `Unknown`. */
  readonly stsCode: string;
  /** Why, without the `AssumeRole failed: ` prefix: `AccessDenied: User … is not authorized …`. */
  readonly reason: string;
}

/** How the executor hears about a task's role trouble (for the task's status). */
export interface CredentialEvents {
  /** The role could not be assumed (first time, or on a refresh); called when the message changes. */
  onCredentialError?(taskId: string, message: string, detail: CredentialErrorDetail): void;
  /** Credentials were obtained again after an error. */
  onCredentialRecovered?(taskId: string, detail: { readonly roleArn: string }): void;
}
