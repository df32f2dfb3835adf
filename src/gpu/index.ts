// The GPU part as a library: inventory (nvidia-smi), exclusive allocation,
// and what a lease adds to a container and to the OCI hook runtime.
export type { GpuDevice, GpuInventory } from './gpu-device.js';
export { GpuInventoryError, type GpuInventoryFailure } from './gpu-inventory-error.js';
export { NvidiaSmiParseError } from './nvidia-smi-parse-error.js';
export { GPU_QUERY_ARGS, parseGpuQueryCsv } from './nvidia-smi-csv.js';
export { FULL_REPORT_ARGS, parseNvidiaSmiXml, type NvidiaSmiReport, type NvidiaSmiReportGpu } from './nvidia-smi-xml.js';
export {
  DEFAULT_GPU_DEVICE_NODE,
  DEFAULT_NVIDIA_SMI,
  DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
  readGpuInventory,
  type GpuInventoryOptions,
} from './nvidia-inventory.js';
export {
  ExclusiveGpuAllocator,
  type ExclusiveGpuAllocatorOptions,
  type GpuAllocator,
  type GpuLease,
} from './gpu-allocator.js';
export {
  DEFAULT_GPU_LOCK_DIR,
  FileGpuLockStore,
  NO_CROSS_PROCESS_LOCKS,
  type FileGpuLockStoreOptions,
  type GpuLockAttempt,
  type GpuLockOwner,
  type GpuLockStore,
} from './gpu-lock-store.js';
export {
  DEFAULT_NVIDIA_DRIVER_CAPABILITIES,
  DEFAULT_NVIDIA_OCI_RUNTIME,
  gpuContainerConfig,
  type GpuContainerConfig,
  type GpuContainerConfigOptions,
} from './gpu-container-config.js';
export {
  DEFAULT_NVIDIA_HOOK_ARGS,
  DEFAULT_NVIDIA_HOOK_PATH,
  DEFAULT_OCI_HOOKS_CONFIG_PATH,
  ociAddHooksRuntimeArgs,
  renderNvidiaHooksConfig,
  writeFileAtomic,
  writeNvidiaHooksConfig,
  type NvidiaHookOptions,
  type OciHook,
  type OciHooksConfig,
} from './oci-hooks-config.js';
