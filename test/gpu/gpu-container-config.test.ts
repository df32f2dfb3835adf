// gpuContainerConfig: pure; leases come from ExclusiveGpuAllocator over
// fakeGpus(), which stand for GPUs nvidia-smi reported.
import t from 'tap';
import { ExclusiveGpuAllocator } from '../../src/gpu/gpu-allocator.js';
import { gpuContainerConfig } from '../../src/gpu/gpu-container-config.js';
import { fakeGpus } from './gpu-fixtures.js';

t.test('GPUs: the hook runtime and NVIDIA env, UUIDs lowest index first', async (t) => {
  const gpus = fakeGpus(4);
  const lease = new ExclusiveGpuAllocator(gpus).allocate('a', 2);
  t.same(gpuContainerConfig(lease), {
    runtime: 'oci-add-hooks',
    env: {
      NVIDIA_VISIBLE_DEVICES: `${gpus[0]?.uuid},${gpus[1]?.uuid}`,
      NVIDIA_DRIVER_CAPABILITIES: 'all',
      TITUS_NUM_GPU: '2',
      TITUS_OCI_RUNTIME: 'oci-add-hooks',
    },
  });
});

t.test('configured runtime and capabilities', async (t) => {
  const lease = new ExclusiveGpuAllocator(fakeGpus(1)).allocate('a', 1);
  const config = gpuContainerConfig(lease, { nvidiaOciRuntime: 'nvidia', driverCapabilities: 'compute,utility' });
  t.equal(config.runtime, 'nvidia');
  t.match(config.env, { NVIDIA_DRIVER_CAPABILITIES: 'compute,utility', TITUS_OCI_RUNTIME: 'nvidia', TITUS_NUM_GPU: '1' });
});

t.test('no GPUs: engine default runtime, no NVIDIA env', async (t) => {
  const lease = new ExclusiveGpuAllocator(fakeGpus(1)).allocate('a', 0);
  const config = gpuContainerConfig(lease, { nvidiaOciRuntime: 'nvidia' });
  t.equal(config.runtime, undefined);
  t.same(config.env, { TITUS_NUM_GPU: '0', TITUS_OCI_RUNTIME: 'runc' });
  t.notOk('runtime' in config, 'no runtime key at all, so HostConfig.Runtime is left unset');
});
