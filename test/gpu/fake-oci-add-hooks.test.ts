// The fake oci-add-hooks (test/fixtures/oci-add-hooks), which stands for the
// real runc wrapper dockerd runs for GPU containers, checked on its own: a
// `fake-runc` shell script stands for runc and records the arguments it got;
// a hand-made bundle stands for what containerd prepares. The env and hook
// config come from this part's own gpuContainerConfig and writeNvidiaHooksConfig.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExclusiveGpuAllocator } from '../../src/gpu/gpu-allocator.js';
import { gpuContainerConfig } from '../../src/gpu/gpu-container-config.js';
import { renderNvidiaHooksConfig, writeNvidiaHooksConfig } from '../../src/gpu/oci-hooks-config.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { fakeGpus } from './gpu-fixtures.js';
import { makeTempDir } from './temp-dir.js';

const setUp = async (t: Parameters<typeof makeTempDir>[0]) => {
  const dir = makeTempDir(t);
  const runcArgsFile = join(dir, 'runc-args');
  const fakeRunc = join(dir, 'fake-runc');
  writeFileSync(fakeRunc, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > '${runcArgsFile}'\nexit 0\n`, {
    mode: 0o755,
  });
  const hookConfigPath = await writeNvidiaHooksConfig({ configPath: join(dir, 'oci-hooks.json') });
  const fake = createFakeOciAddHooks({ dir, hookConfigPath, runtimePath: fakeRunc });
  const bundle = join(dir, 'bundle dir');
  mkdirSync(bundle);
  const lease = new ExclusiveGpuAllocator(fakeGpus(2)).allocate('task-1', 2);
  const env = Object.entries(gpuContainerConfig(lease).env).map(([k, v]) => `${k}=${v}`);
  const spec = { ociVersion: '1.0.2', process: { env: ['PATH=/bin', ...env], args: ['sh'] }, hooks: { poststop: [] } };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const runcArgs = (): string[] => readFileSync(runcArgsFile, 'utf8').split('\n').slice(0, -1);
  return { fake, bundle, lease, runcArgs };
};

t.test('create: records the NVIDIA/TITUS env, merges the hooks, passes args through unchanged', async (t) => {
  const { fake, bundle, lease, runcArgs } = await setUp(t);
  const args = [
    '--root', '/var/run/docker/runtime-oci-add-hooks/moby',
    '--log', join(bundle, 'log.json'),
    '--log-format', 'json',
    'create', '--bundle', bundle, '--pid-file', join(bundle, 'init.pid'),
    'c0ffee',
  ];
  execFileSync(fake.runtimePath, args);
  t.same(runcArgs(), args, 'runc got exactly the arguments dockerd gave, minus the wrapper flags');
  const record = fake.created('c0ffee');
  t.same(record?.env, {
    NVIDIA_VISIBLE_DEVICES: lease.devices.map((d) => d.uuid).join(','),
    NVIDIA_DRIVER_CAPABILITIES: 'all',
    TITUS_NUM_GPU: '2',
    TITUS_OCI_RUNTIME: 'oci-add-hooks',
  });
  t.equal(record?.bundle, bundle);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { hooks: Record<string, unknown> };
  t.same(spec.hooks, { poststop: [], prestart: renderNvidiaHooksConfig().hooks.prestart }, 'hooks merged as oci-add-hooks does');
  t.same(fake.createdAll().map((r) => r.containerId), ['c0ffee']);
});

t.test('other runc calls pass straight through and are logged', async (t) => {
  const { fake, runcArgs } = await setUp(t);
  execFileSync(fake.runtimePath, ['--root', '/r', 'state', 'c0ffee']);
  execFileSync(fake.runtimePath, ['--root', '/r', 'delete', '--force', 'c0ffee']);
  t.same(runcArgs(), ['--root', '/r', 'delete', '--force', 'c0ffee']);
  t.same(fake.calls(), ['--root /r state c0ffee', '--root /r delete --force c0ffee']);
  t.same(fake.createdAll(), []);
  t.equal(fake.created('c0ffee'), undefined);
});

t.test('runtime exit status is the wrapper’s', async (t) => {
  const dir = makeTempDir(t);
  const fake = createFakeOciAddHooks({ dir, runtimePath: '/bin/false' });
  const result = spawnSync(fake.runtimePath, ['state', 'x'], { stdio: 'ignore' });
  t.equal(result.status, 1);
});
