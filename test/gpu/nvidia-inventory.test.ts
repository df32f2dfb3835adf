// readGpuInventory against fakes: test/fixtures/nvidia-smi/nvidia-smi stands
// for NVIDIA's nvidia-smi binary (FAKE_NVIDIA_SMI_MODE picks the host it
// pretends to be), and an ordinary temp file stands for the /dev/nvidia0 node.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGpuInventory, type GpuInventoryOptions } from '../../src/gpu/nvidia-inventory.js';
import { GpuInventoryError } from '../../src/gpu/gpu-inventory-error.js';
import { isExecutorError } from '../../src/common/errors.js';
import { makeTempDir, type TeardownScope } from './temp-dir.js';

const fakeNvidiaSmi = fileURLToPath(new URL('../fixtures/nvidia-smi/nvidia-smi', import.meta.url));

const fakeHost = (t: TeardownScope, mode: string, extra: GpuInventoryOptions = {}): GpuInventoryOptions => {
  const dir = makeTempDir(t);
  const deviceNodePath = join(dir, 'nvidia0');
  writeFileSync(deviceNodePath, '');
  return {
    nvidiaSmiPath: fakeNvidiaSmi,
    deviceNodePath,
    env: { ...process.env, FAKE_NVIDIA_SMI_MODE: mode },
    ...extra,
  };
};

const inventoryError = async (t: { ok(value: unknown, message: string): void }, promise: Promise<unknown>): Promise<GpuInventoryError> => {
  try {
    await promise;
  } catch (err) {
    t.ok(err instanceof GpuInventoryError, 'a GpuInventoryError');
    t.ok(isExecutorError(err, 'FAILED_PRECONDITION'), 'an ExecutorError FAILED_PRECONDITION');
    return err as GpuInventoryError;
  }
  throw new Error('expected readGpuInventory to fail');
};

t.test('one GPU, with driver and CUDA versions', async (t) => {
  const inventory = await readGpuInventory(fakeHost(t, 'gpus1'));
  t.same(inventory, {
    gpus: [
      {
        index: 0,
        uuid: 'GPU-5d6e8f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6',
        name: 'NVIDIA A10G',
        memoryMiB: 23028,
        pciBusId: '00000000:00:1E.0',
      },
    ],
    driverVersion: '535.183.01',
    cudaVersion: '12.2',
  });
  t.equal(inventory.reason, undefined);
});

t.test('eight GPUs, lowest index first', async (t) => {
  const inventory = await readGpuInventory(fakeHost(t, 'gpus8'));
  t.equal(inventory.gpus.length, 8);
  t.same(
    inventory.gpus.map((g) => g.index),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  t.equal(new Set(inventory.gpus.map((g) => g.uuid)).size, 8);
});

t.test('the outputs captured from a real H100 host', async (t) => {
  const inventory = await readGpuInventory(fakeHost(t, 'real-h100'));
  t.equal(inventory.gpus[0]?.uuid, 'GPU-0a59de30-b57b-0417-8d82-22cc6c754f00');
  t.equal(inventory.driverVersion, '580.159.04');
  t.equal(inventory.cudaVersion, '13.0');
});

t.test('the XML report can be skipped', async (t) => {
  const inventory = await readGpuInventory(fakeHost(t, 'gpus1', { queryDriverVersion: false }));
  t.equal(inventory.gpus.length, 1);
  t.equal(inventory.driverVersion, undefined);
});

t.test('driver up but no GPU ("No devices were found", exit 6) is zero GPUs with a reason', async (t) => {
  const inventory = await readGpuInventory(fakeHost(t, 'gpus0'));
  t.same(inventory.gpus, []);
  t.match(inventory.reason, /found no GPUs: stdout: No devices were found/);
});

t.test('no device node: not a GPU host, nvidia-smi is not even run', async (t) => {
  const options = fakeHost(t, 'fail');
  const inventory = await readGpuInventory({ ...options, deviceNodePath: join(makeTempDir(t), 'no-nvidia0') });
  t.same(inventory.gpus, []);
  t.match(inventory.reason, /no-nvidia0 does not exist: not a GPU host/);
});

t.test('no nvidia-smi binary: zero GPUs with a reason', async (t) => {
  const missing = join(makeTempDir(t), 'bin', 'nvidia-smi');
  const byPath = await readGpuInventory({ ...fakeHost(t, 'gpus1'), nvidiaSmiPath: missing });
  t.same(byPath.gpus, []);
  t.match(byPath.reason, /nvidia-smi was not found or is not executable/);

  const emptyPath = { ...fakeHost(t, 'gpus1'), nvidiaSmiPath: 'nvidia-smi' };
  const byName = await readGpuInventory({ ...emptyPath, env: { PATH: makeTempDir(t) } });
  t.match(byName.reason, /nvidia-smi was not found/);
});

t.test('found by name on PATH', async (t) => {
  const options = fakeHost(t, 'gpus1');
  const fixtureDir = fileURLToPath(new URL('../fixtures/nvidia-smi/', import.meta.url));
  const inventory = await readGpuInventory({
    ...options,
    nvidiaSmiPath: 'nvidia-smi',
    env: { ...options.env, PATH: `/nonexistent:${fixtureDir}:${process.env['PATH'] ?? ''}` },
  });
  t.equal(inventory.gpus.length, 1);
});

t.test('driver not loaded (exit 9): a typed error carrying NVIDIA’s message', async (t) => {
  const err = await inventoryError(t, readGpuInventory(fakeHost(t, 'fail')));
  t.equal(err.failure, 'exit');
  t.equal(err.exitCode, 9);
  t.match(err.message, /exited with code 9/);
  t.match(err.message, /NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
});

t.test('a hung nvidia-smi times out quickly instead of blocking the executor', async (t) => {
  const started = Date.now();
  const err = await inventoryError(t, readGpuInventory(fakeHost(t, 'hang', { timeoutMs: 500 })));
  const elapsed = Date.now() - started;
  t.equal(err.failure, 'timeout');
  t.match(err.message, /did not finish within 500 ms/);
  t.ok(elapsed < 3_000, `gave up after ${elapsed} ms`);
});

t.test('malformed output is an error naming what is wrong', async (t) => {
  const err = await inventoryError(t, readGpuInventory(fakeHost(t, 'malformed')));
  t.equal(err.failure, 'malformed');
  t.match(err.message, /unexpected output from .*nvidia-smi --query-gpu=.*line 1/);
});

t.test('nvidia-smi exists but cannot be run', async (t) => {
  const dir = makeTempDir(t);
  writeFileSync(join(dir, 'nvidia-smi'), '#!/nonexistent/interpreter\n', { mode: 0o755 });
  const err = await inventoryError(t, readGpuInventory({ ...fakeHost(t, 'gpus1'), nvidiaSmiPath: join(dir, 'nvidia-smi') }));
  t.equal(err.failure, 'spawn');
  t.match(err.message, /could not run/);
});
