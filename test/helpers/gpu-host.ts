/**
 * A GPU host made of fakes for tests that need one: the fake `nvidia-smi`
 * (test/fixtures/nvidia-smi, eight GPUs) stands for the driver's tool, an
 * empty file for /dev/nvidia0, and the fake `oci-add-hooks` (records what it
 * is given, then runs runc) is registered with the harness's real dockerd.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFakeOciAddHooks, type FakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { useHarness, type Harness } from '../harness/index.js';

const fakeNvidiaSmi = fileURLToPath(new URL('../fixtures/nvidia-smi/nvidia-smi', import.meta.url));

export interface FakeGpuHost {
  readonly h: Harness;
  readonly fake: FakeOciAddHooks;
  /** The executor's `gpu` config section for this host. */
  readonly gpuConfig: Record<string, unknown>;
  /** Where the executor writes the hook config oci-add-hooks reads. */
  readonly hookConfigPath: string;
}

/** Everything lives under `dir`, which the caller owns and removes. */
export const startFakeGpuHost = async (t: { teardown(fn: () => unknown): void }, dir: string): Promise<FakeGpuHost> => {
  const devNode = join(dir, 'nvidia0');
  writeFileSync(devNode, '');
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath });
  const h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  process.env['FAKE_NVIDIA_SMI_MODE'] = 'gpus8';
  const gpuConfig = { nvidiaSmiPath: fakeNvidiaSmi, deviceNodePath: devNode, lockDir: join(dir, 'locks'), hookConfigPath, hookPath: '/bin/true' };
  return { h, fake, gpuConfig, hookConfigPath };
};
