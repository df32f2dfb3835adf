/**
 * OwnNamespacePart on its own (no engine): the files it writes, what it
 * grants, and what a recovery removes. The real-engine side is
 * test/runtime/own-namespace.test.ts.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { OwnNamespacePart } from '../../src/parts/own-namespace-part.js';
import type { PartGrant, TaskHandle, TaskPart } from '../../src/task/task-part.js';
import type { LaunchSpec } from '../../src/task/types.js';

const launch = (taskId: string, extra: Partial<LaunchSpec> = {}): LaunchSpec => ({
  taskId,
  containerInfo: {},
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
  ...extra,
});
const handle = {} as TaskHandle;
const signal = new AbortController().signal;

const setup = (t: { teardown(fn: () => void): void }, first?: TaskPart): { dir: string; part: OwnNamespacePart } => {
  const dir = mkdtempSync(join(tmpdir(), 'own-ns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const part = new OwnNamespacePart(join(dir, 'task-files'), silentLogger(), first);
  part.setOn(true);
  return { dir, part };
};

t.test('grants NetworkDisabled with the task\'s own /etc/hosts and resolv.conf, removed at release', async (t) => {
  const { dir, part } = setup(t);
  const grant = await part.acquire(launch('Task_1', { hostname: 'web-1' }), signal, handle);
  t.equal(grant.networkMode, 'none');
  t.equal(grant.networkDisabled, true);
  const hosts = join(dir, 'task-files', 'Task_1', 'hosts');
  t.same(grant.mounts, [
    { source: hosts, target: '/etc/hosts' },
    { source: join(dir, 'task-files', 'Task_1', 'resolv.conf'), target: '/etc/resolv.conf' },
  ]);
  t.match(readFileSync(hosts, 'utf8'), /^127\.0\.0\.1\tlocalhost\n[\s\S]*\n127\.0\.1\.1\tweb-1\n$/, 'the engine\'s lines, then its own name');
  await part.release('Task_1');
  for (let i = 0; i < 100 && existsSync(join(dir, 'task-files', 'Task_1')); i++) await new Promise((r) => setTimeout(r, 10));
  t.notOk(existsSync(join(dir, 'task-files', 'Task_1')), 'gone after release (in the background)');
  await part.release('Task_1'); // idempotent
});

t.test('off (the engine cannot see this host\'s files): the engine\'s network mode none, and GetHostResources says why', async (t) => {
  const { dir, part } = setup(t);
  part.setOn(false, 'could not show that the engine sees files in /state');
  t.same(await part.acquire(launch('off-1'), signal, handle), {});
  t.notOk(existsSync(join(dir, 'task-files', 'off-1')), 'no files written');
  t.same(part.capacity().status, ['task namespaces: from the engine (network mode none): could not show that the engine sees files in /state']);
});

t.test('a pod container (shared network) gets nothing from it', async (t) => {
  const { part } = setup(t);
  t.same(await part.acquire(launch('pod-c', { sharedNetwork: { key: 'uid', hostname: 'pod' } }), signal, handle), {});
});

t.test('a sandbox from the part asked first wins; without one the task gets its own namespace', async (t) => {
  let hand: PartGrant = { networkMode: 'container:sandbox1', mounts: [{ source: '/s/hosts', target: '/etc/hosts' }] };
  const released: string[] = [];
  const pool: TaskPart = { name: 'pool', acquire: async () => hand, release: async (id) => void released.push(id) };
  const { part } = setup(t, pool);
  t.same(await part.acquire(launch('a'), signal, handle), hand, 'the pooled sandbox, as the pool granted it');
  hand = {};
  const own = await part.acquire(launch('b'), signal, handle);
  t.equal(own.networkDisabled, true, 'an empty pool: a namespace of its own');
  await part.release('a');
  await part.release('b');
  t.same(released, ['a', 'b'], 'the pool is told of every release');
});

t.test('after a restart, the files of tasks neither live nor launched since are removed', async (t) => {
  const { dir, part } = setup(t);
  mkdirSync(join(dir, 'task-files', 'gone'), { recursive: true });
  mkdirSync(join(dir, 'task-files', 'live'), { recursive: true });
  await part.acquire(launch('launched-during-recovery'), signal, handle);
  await part.reconcileAfterRestart([], new Set(['live']));
  t.notOk(existsSync(join(dir, 'task-files', 'gone')), 'a task that is gone');
  t.ok(existsSync(join(dir, 'task-files', 'live')), 'a live task keeps its files');
  t.ok(existsSync(join(dir, 'task-files', 'launched-during-recovery')), 'a task launched since the restart keeps its files');
});
