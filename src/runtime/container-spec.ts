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
  readonly runtime?: string;
}

/** What the executor needs to know of an image to merge entrypoints. */
export interface ImageConfig {
  readonly id: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly stopSignal?: string;
  readonly sizeBytes: number;
}
