import type { GpuDevice } from '../../src/gpu/gpu-device.js';

/** Stand-ins for an inventory read from nvidia-smi: `count` A100s, indexes 0… */
export const fakeGpus = (count: number): GpuDevice[] =>
  Array.from({ length: count }, (_, index) => ({
    index,
    uuid: `GPU-0000000${index}-7c2e-4f8a-9d1b-0e5f6a7b8c9${index % 10}`,
    name: 'NVIDIA A100-SXM4-80GB',
    memoryMiB: 81920,
    pciBusId: `00000000:${(0x10 + index).toString(16).toUpperCase()}:00.0`,
  }));
