import type { PullProgress } from './pull-progress.js';
import type { ContainerSpec, ImageConfig } from './container-spec.js';
import type { ImageRef } from './image-ref.js';
import type { TaskPullAuth } from './registry-auth/index.js';
import type { DiskQuotaSupport } from './disk-quota.js';

export interface ContainerExit {
  readonly exitCode: number;
  readonly oomKilled: boolean;
  /** The engine's own error for the container, if any. */
  readonly error?: string;
}

export interface ContainerSummary {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** created | running | paused | restarting | removing | exited | dead */
  readonly state: string;
}

/**
 * The container engine as the task core sees it: domain types only, so the
 * core can be tested against a small fake and the engine can change.
 * Every call that can be repeated is idempotent (remove, stop).
 */
export interface ContainerRuntime {
  /** The engine's version; fails with an UNAVAILABLE ExecutorError when it cannot be reached. */
  version(): Promise<string>;
  /** The image's config if the engine has it locally, else undefined. */
  findImage(ref: string): Promise<ImageConfig | undefined>;
  /** `taskAuth`: credentials the task brought (a pod's imagePullSecrets), tried before the executor's own. */
  pullImage(image: ImageRef, onProgress: (p: PullProgress) => void, signal: AbortSignal, taskAuth?: TaskPullAuth): Promise<void>;
  createContainer(spec: ContainerSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  /**
   * Resolves when the container is no longer running. `signal` drops the
   * request (it then rejects): a wait cut by an engine that was SIGKILLed
   * after it had answered the headers may otherwise never settle.
   * `exitCodeOnly`, asked once the container has stopped: true when nothing
   * but the exit code matters (a task whose kill is stored ends KILLED
   * whatever else the engine knows), so the engine's record of the exit (OOM
   * kill, error) is not read, one round trip fewer.
   */
  waitContainer(id: string, signal?: AbortSignal, exitCodeOnly?: () => boolean): Promise<ContainerExit>;
  /**
   * Calls `listener` when the engine reports that the container's process
   * has exited (its `die` event): its output is all in the engine's log then,
   * a few ms before the engine has cleaned up and a stop or wait answers.
   * Only while the engine's events are watched (EngineMonitor); optional, and
   * a hint only: the wait stays what decides the task's end. Returns the
   * unsubscribe.
   */
  onContainerExited?(id: string, listener: () => void): () => void;
  /** The stop signal (the image's, else SIGTERM), then SIGKILL after graceSeconds. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  /** The last `maxBytes` of the container's stdout and stderr, interleaved as written. */
  containerOutput(id: string, maxBytes: number): Promise<string>;
  listContainers(labels: Readonly<Record<string, string>>): Promise<ContainerSummary[]>;
  /**
   * Whether a spec's storageSizeBytes is enforced by the engine or only
   * accounted, as last learnt (a create may change the answer). Optional: the
   * fakes the core is tested with have no storage driver.
   */
  diskQuota?(): Promise<DiskQuotaSupport>;
}

/** One line of a container's output, as the engine stored it. */
export interface ContainerOutputLine {
  readonly stream: 'stdout' | 'stderr';
  /** When the engine received it: RFC 3339, UTC, nine fractional digits (src/runtime/output-timestamp.ts). */
  readonly timestamp: string;
  /** Without its newline. */
  readonly text: string;
}

export interface FollowOutputOptions {
  /** Only output from this time on, rounded down to the second (the engine's resolution for `since`). */
  readonly sinceMs?: number;
  /** Ends the copy; the iteration then simply ends. */
  readonly signal: AbortSignal;
  /**
   * Aborted once the caller knows the container has exited: the follow is
   * ended there and the rest read with one plain read, instead of waiting for
   * the engine's follow to notice the exit (milliseconds later, measured).
   */
  readonly exited?: AbortSignal;
}

/**
 * A container's output as it is written, for the per-task log store. Its own
 * interface, like SandboxEngine, so the fakes of ContainerRuntime the task
 * core is tested with need not implement it; DockerRuntime and the metrics
 * decorator do.
 */
export interface ContainerOutputSource {
  /**
   * Batches of lines, oldest first, as the engine sends them; ends once the
   * container has stopped and all its output was sent. Fails with a
   * RuntimeError ('not-found' when there is no such container).
   */
  followOutput(id: string, options: FollowOutputOptions): AsyncIterable<readonly ContainerOutputLine[]>;
}

/** What the engine says about one container, for callers that need its process (network sandboxes). */
export interface ContainerDetails {
  readonly id: string;
  readonly name: string;
  /** created | running | paused | restarting | removing | exited | dead */
  readonly state: string;
  /** The container's init process on the host; 0 when it is not running. */
  readonly pid: number;
  readonly labels: Readonly<Record<string, string>>;
  /** The engine's /etc/hosts file for the container, on the engine's host. */
  readonly hostsPath?: string;
  /** The engine's /etc/hostname file for the container, in the container's own directory on the engine's host. */
  readonly hostnamePath?: string;
}

export interface ImportImageOptions {
  /** `repository:tag` the image is tagged with. */
  readonly ref: string;
  /** Dockerfile-style changes, as `docker import --change` takes them (ENTRYPOINT, LABEL, ENV, …). */
  readonly changes: readonly string[];
  readonly message?: string;
}

/**
 * The engine calls a network sandbox needs beyond the task core's. A separate
 * interface so decorators and fakes of ContainerRuntime need not implement
 * them; DockerRuntime implements both.
 */
export interface RuntimeRegistry {
  /** The OCI runtimes the engine has registered. */
  registeredRuntimes(): Promise<string[]>;
}

export interface SandboxEngine {
  /** Creates an image from a root filesystem tar (`docker import`); returns the image id. */
  importImage(tarPath: string, options: ImportImageOptions): Promise<string>;
  /** undefined when there is no such container. */
  inspectContainer(id: string): Promise<ContainerDetails | undefined>;
}
