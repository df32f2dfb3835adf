/**
 * hooks/task-hostname on its own (no engine): which containers it touches,
 * and its refusal to rename a process that already runs its entrypoint; and
 * the shared hook-config file, where the NVIDIA hook and the hostname hook
 * keep each other's entries.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { putHookInConfig, writeNvidiaHooksConfig } from '../../src/gpu/oci-hooks-config.js';

const hook = fileURLToPath(new URL('../../hooks/task-hostname', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'titus-hook-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A bundle whose config.json mounts `source` at /etc/hostname (as Docker writes it), or mounts nothing there. */
const bundle = (name: string, hostnameSource?: string): string => {
  const b = join(dir, name);
  spawnSync('mkdir', ['-p', b]);
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid'] },
    ...(hostnameSource === undefined ? [] : [{ destination: '/etc/hostname', type: 'bind', source: hostnameSource, options: ['rbind', 'rprivate'] }]),
  ];
  writeFileSync(join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2-dev', hostname: 'pool-x', mounts }));
  return b;
};

const runHook = (state: object): { status: number | null; stderr: string } => {
  const r = spawnSync(hook, [], { input: JSON.stringify(state), encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
};

t.test('a container without the executor\'s hostname file is left alone', async (t) => {
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill());
  const plain = runHook({ ociVersion: '1.0.2', id: 'a', status: 'created', pid: sleeper.pid, bundle: bundle('plain') });
  t.equal(plain.status, 0, 'no /etc/hostname mount: exit 0');
  const own = join(dir, 'hostname');
  writeFileSync(own, 'x\n');
  const other = runHook({ ociVersion: '1.0.2', id: 'b', status: 'created', pid: sleeper.pid, bundle: bundle('engine-file', own) });
  t.equal(other.status, 0, 'the engine\'s own hostname file (not titus-task-hostname): exit 0');
});

t.test('a process that already runs its entrypoint is not renamed: the hook fails the container', async (t) => {
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill());
  const source = join(dir, 'titus-task-hostname');
  writeFileSync(source, 'task-one\n');
  const r = runHook({ ociVersion: '1.0.2', id: 'c', status: 'created', pid: sleeper.pid, bundle: bundle('late', source) });
  t.equal(r.status, 1);
  t.match(r.stderr, /already runs .*too late to set its hostname/);
});

t.test('a hostname file with anything but a hostname in it fails the container', async (t) => {
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill());
  const sub = join(dir, 'bad');
  spawnSync('mkdir', ['-p', sub]);
  const source = join(sub, 'titus-task-hostname');
  writeFileSync(source, 'two words\n');
  const r = runHook({ ociVersion: '1.0.2', id: 'd', status: 'created', pid: sleeper.pid, bundle: bundle('bad-name', source) });
  t.equal(r.status, 1);
  t.match(r.stderr, /holds no valid hostname/);
});

t.test('the hook-config file is shared: the NVIDIA writer and the pool keep each other\'s hooks', async (t) => {
  const path = join(dir, 'oci-hooks.json');
  const read = (): Record<string, Array<{ path: string }>> => (JSON.parse(readFileSync(path, 'utf8')) as { hooks: Record<string, Array<{ path: string }>> }).hooks;
  await putHookInConfig(path, 'poststart', { path: '/opt/titus/hooks/task-hostname', timeout: 10 });
  await writeNvidiaHooksConfig({ configPath: path, hookPath: '/bin/true' });
  t.same(read()['poststart']?.map((h) => h.path), ['/opt/titus/hooks/task-hostname'], 'the NVIDIA writer kept the hostname hook');
  await putHookInConfig(path, 'poststart', { path: '/opt/titus/hooks/task-hostname', timeout: 10 });
  t.same(read()['prestart']?.map((h) => h.path), ['/bin/true'], 'the NVIDIA prestart hook, once');
  t.same(read()['poststart']?.map((h) => h.path), ['/opt/titus/hooks/task-hostname'], 'the hostname hook, once');
});
