// The hook-config file that oci-add-hooks (the runc wrapper registered with
// dockerd) reads. A temp dir stands for /etc/titus-executor.
import t from 'tap';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ociAddHooksRuntimeArgs,
  renderNvidiaHooksConfig,
  writeFileAtomic,
  writeNvidiaHooksConfig,
} from '../../src/gpu/oci-hooks-config.js';
import { makeTempDir } from './temp-dir.js';

t.test('default: NVIDIA prestart hook in OCI hooks shape', async (t) => {
  t.same(renderNvidiaHooksConfig(), {
    hooks: {
      prestart: [
        { path: '/usr/bin/nvidia-container-runtime-hook', args: ['nvidia-container-runtime-hook', 'prestart'] },
      ],
    },
  });
});

t.test('hook path, args, env and timeout from config', async (t) => {
  const config = renderNvidiaHooksConfig({
    hookPath: '/opt/nvidia/hook',
    hookArgs: ['hook', 'prestart', '--debug'],
    hookEnv: { PATH: '/usr/bin:/bin', NVIDIA_CTK_DEBUG: '1' },
    timeoutSeconds: 30,
  });
  t.same(config.hooks.prestart, [
    {
      path: '/opt/nvidia/hook',
      args: ['hook', 'prestart', '--debug'],
      env: ['PATH=/usr/bin:/bin', 'NVIDIA_CTK_DEBUG=1'],
      timeout: 30,
    },
  ]);
});

t.test('invalid config is refused before anything is written', async (t) => {
  t.throws(() => renderNvidiaHooksConfig({ hookPath: 'nvidia-container-runtime-hook' }), {
    code: 'INVALID_ARGUMENT',
    message: /hookPath: must be an absolute path/,
  });
  t.throws(() => renderNvidiaHooksConfig({ hookEnv: { 'A=B': 'c' } }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => renderNvidiaHooksConfig({ timeoutSeconds: 0 }), { code: 'INVALID_ARGUMENT' });
});

t.test('written atomically to the configured path, creating its directory', async (t) => {
  const dir = makeTempDir(t);
  const configPath = join(dir, 'etc', 'titus-executor', 'oci-hooks.json');
  t.equal(await writeNvidiaHooksConfig({ configPath }), configPath);
  t.same(JSON.parse(readFileSync(configPath, 'utf8')), renderNvidiaHooksConfig());
  t.equal(statSync(configPath).mode & 0o777, 0o644);

  await writeNvidiaHooksConfig({ configPath, hookPath: '/opt/hook' });
  t.match(JSON.parse(readFileSync(configPath, 'utf8')), { hooks: { prestart: [{ path: '/opt/hook' }] } });
  t.same(readdirSync(join(dir, 'etc', 'titus-executor')), ['oci-hooks.json'], 'no temporary file left');
});

t.test('a failed write leaves the old file intact and no temporary behind', async (t) => {
  const dir = makeTempDir(t);
  const path = join(dir, 'oci-hooks.json');
  writeFileSync(path, 'old');
  // Renaming a file over a directory fails, after the temporary is written.
  const blocked = join(dir, 'blocked');
  mkdirSync(join(blocked, 'child'), { recursive: true });
  await t.rejects(writeFileAtomic(blocked, 'new'));
  t.same(readdirSync(dir).sort(), ['blocked', 'oci-hooks.json']);
  t.equal(readFileSync(path, 'utf8'), 'old');
});

t.test('daemon.json runtimeArgs for oci-add-hooks', async (t) => {
  t.same(ociAddHooksRuntimeArgs('/etc/titus-executor/oci-hooks.json'), [
    '--hook-config-path',
    '/etc/titus-executor/oci-hooks.json',
    '--runtime-path',
    'runc',
  ]);
});
