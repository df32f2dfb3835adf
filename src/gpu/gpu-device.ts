/** One physical NVIDIA GPU as nvidia-smi reports it. */
export interface GpuDevice {
  /** nvidia-smi's index (enumeration order, PCI bus order by default). */
  readonly index: number;
  /** `GPU-xxxxxxxx-…`; what NVIDIA_VISIBLE_DEVICES names and what leases persist. */
  readonly uuid: string;
  readonly name: string;
  readonly memoryMiB: number;
  /** e.g. `00000000:07:00.0` */
  readonly pciBusId: string;
}

/** What this host has. `reason` is set whenever `gpus` is empty, saying why (for the log). */
export interface GpuInventory {
  readonly gpus: readonly GpuDevice[];
  readonly driverVersion?: string;
  readonly cudaVersion?: string;
  readonly reason?: string;
}

/** Lowest index first: the order allocation walks and NVIDIA_VISIBLE_DEVICES lists. */
export const byIndex = (a: GpuDevice, b: GpuDevice): number => a.index - b.index;
