/**
 * The engine-neutral description of a task's container, and the pure builders
 * that derive it from a launch. No dockerode type appears here; the Docker
 * adapter translates a ContainerSpec into a create call.
 */
export interface Ulimit {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/** A host device node passed into the container (FUSE, KVM, tun). */
export interface DeviceMapping {
  readonly hostPath: string;
  readonly containerPath: string;
  /** Device-cgroup permissions: r, w, m (mknod). */
  readonly permissions: string;
}

/** A host file or directory bind-mounted into the container. */
export interface BindMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly?: boolean;
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  /** Final values, already merged with the image's own (undefined never reaches the engine). */
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Absent when the container joins another's network namespace (`container:<id>`): that container's hostname applies. */
  readonly hostname?: string;
  /** Absent: the image's WORKDIR. */
  readonly workingDir?: string;
  readonly cpuShares: number;
  readonly cpuPeriodUs?: number;
  readonly cpuQuotaUs?: number;
  readonly memoryBytes: number;
  /** Memory plus swap; equal to memoryBytes means no swap. */
  readonly memorySwapBytes: number;
  readonly pidsLimit: number;
  readonly ulimits: readonly Ulimit[];
  readonly shmSizeBytes?: number;
  readonly tmpfs: Readonly<Record<string, string>>;
  readonly init: boolean;
  readonly securityOpt: readonly string[];
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly oomScoreAdj: number;
  readonly networkMode: string;
  /**
   * No network set up by the engine at all: the container gets a namespace of
   * its own, empty but for lo, and no /etc/hosts or /etc/resolv.conf (network
   * sandboxes, whose namespace the executor wires itself).
   */
  readonly networkDisabled?: boolean;
  readonly mounts?: readonly BindMount[];
  readonly runtime?: string;
  readonly devices?: readonly DeviceMapping[];
  /**
   * The task's disk size: the container's writable layer is held to it where
   * the engine's storage driver can (disk-quota.ts), else it is only accounted.
   */
  readonly storageSizeBytes?: number;
  /** The root filesystem is read-only (Docker's ReadonlyRootfs); bind mounts and tmpfs keep their own modes. */
  readonly readOnlyRootfs?: boolean;
}

/** What the executor needs to know of an image to merge entrypoints. */
export interface ImageConfig {
  readonly id: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly stopSignal?: string;
  readonly sizeBytes: number;
}
