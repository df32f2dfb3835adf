import type { GpuLease } from './gpu-allocator.js';

export interface GpuContainerConfigOptions {
  /** The engine runtime that runs the NVIDIA prestart hook. Default `oci-add-hooks`. */
  readonly nvidiaOciRuntime?: string;
  /** NVIDIA_DRIVER_CAPABILITIES. Default `all`. */
  readonly driverCapabilities?: string;
}

/** What a GPU lease adds to the container: the engine runtime (HostConfig.Runtime) and env. */
export interface GpuContainerConfig {
  /** Undefined: the engine's default runtime (runc). */
  readonly runtime?: string;
  readonly env: Readonly<Record<string, string>>;
}

export const DEFAULT_NVIDIA_OCI_RUNTIME = 'oci-add-hooks';
export const DEFAULT_NVIDIA_DRIVER_CAPABILITIES = 'all';
/** What TITUS_OCI_RUNTIME says when no GPU runtime is used; system services derive the runc root from it. */
const DEFAULT_OCI_RUNTIME_NAME = 'runc';

/**
 * The container side of a lease. No devices or mounts are added here: the
 * nvidia-container-runtime-hook, run by the GPU runtime, reads
 * NVIDIA_VISIBLE_DEVICES and mounts the device nodes and driver libraries.
 */
export const gpuContainerConfig = (lease: GpuLease, options: GpuContainerConfigOptions = {}): GpuContainerConfig => {
  const count = lease.devices.length;
  if (count === 0) {
    return { env: { TITUS_NUM_GPU: '0', TITUS_OCI_RUNTIME: DEFAULT_OCI_RUNTIME_NAME } };
  }
  const runtime = options.nvidiaOciRuntime ?? DEFAULT_NVIDIA_OCI_RUNTIME;
  return {
    runtime,
    env: {
      NVIDIA_VISIBLE_DEVICES: lease.devices.map((device) => device.uuid).join(','),
      NVIDIA_DRIVER_CAPABILITIES: options.driverCapabilities ?? DEFAULT_NVIDIA_DRIVER_CAPABILITIES,
      TITUS_NUM_GPU: String(count),
      TITUS_OCI_RUNTIME: runtime,
    },
  };
};
