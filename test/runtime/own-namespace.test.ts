/**
 * A task without a network driver (and without a pooled sandbox) gets its
 * network namespace from the OCI runtime (Docker's NetworkDisabled), not from
 * the engine's network stack, and its /etc/hosts and /etc/resolv.conf from
 * the executor (src/parts/own-namespace-part.ts). All real: dockerd and runc
 * from the harness, and a real `titus-executor serve` killed with SIGKILL.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call } from '../../src/cli/client.js';
import { hostnameFor } from '../../src/task/build-container-spec.js';
import { hostsFileFor, OWN_NAME_ADDRESS, readHostResolvConf, resolvConfFor } from '../../src/parts/sandbox.js';
import { containersWithLabel, useHarness, type Harness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { eventually } from '../helpers/watch.js';

interface Inspected {
  Config: { NetworkDisabled?: boolean };
  HostConfig: { NetworkMode: string };
  NetworkSettings: { SandboxKey?: string; Networks?: Record<string, unknown> };
  Mounts: Array<{ Source: string; Destination: string }>;
}

const inspect = async (h: Harness, id: string): Promise<Inspected> => (JSON.parse((await h.docker(['inspect', id])).stdout) as Inspected[])[0]!;

/** What the task sees, one line each; its hostname first. */
const SELF_REPORT = [
  'hostname',
  'cat /etc/hostname',
  'echo "links: $(ls /sys/class/net | tr "\\n" " ")"',
  'echo "lo: $(ip -o link show lo | grep -c "[<,]UP[,>]")"',
  'echo "ping: $(ping -c1 -W1 127.0.0.1 >/dev/null 2>&1 && echo ok)"',
  'echo "own name: $(grep -c "^127.0.1.1[[:space:]]$(hostname)$" /etc/hosts)"',
  'sleep 1',
].join('; ');

let h: Harness;
let ex: TestExecutor;
t.before(async () => {
  h = await useHarness(t);
  ex = await startTestExecutor(t, h);
});

t.test('the namespace comes from the runtime, /etc/hostname from the engine, /etc/hosts and resolv.conf from the executor', async (t) => {
  const taskId = uniqueTaskId('ownns');
  const stateDir = ex.config.stateDir;
  await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', SELF_REPORT] } } });
  await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const info = await inspect(h, (await ex.get(taskId)).containerId ?? '');
  t.equal(info.Config.NetworkDisabled, true, 'the engine was asked for no network at all');
  t.equal(info.HostConfig.NetworkMode, 'none');
  t.notOk(info.NetworkSettings.SandboxKey, 'the engine built no network sandbox (no libnetwork, no setkey hook)');
  const mounts = new Map(info.Mounts.map((m) => [m.Destination, m.Source]));
  const own = join(stateDir, 'task-files', taskId);
  t.equal(mounts.get('/etc/hosts'), join(own, 'hosts'), '/etc/hosts is the task\'s own file');
  t.equal(mounts.get('/etc/resolv.conf'), join(own, 'resolv.conf'), '/etc/resolv.conf is the task\'s own file');
  const hostname = hostnameFor(taskId);
  t.equal(readFileSync(join(own, 'hosts'), 'utf8'), hostsFileFor(hostname, [OWN_NAME_ADDRESS]), 'the engine\'s lines and the task\'s own name');
  t.equal(readFileSync(join(own, 'resolv.conf'), 'utf8'), resolvConfFor(await readHostResolvConf()), 'the host\'s resolv.conf, as the engine filters it');
  const updates = await ex.waitForState(taskId, 'TASK_STATE_FINISHED');
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED');
  const lines = ((await ex.get(taskId)).outputTail ?? '').trim().split('\n');
  t.same(lines, [hostname, hostname, 'links: lo ', 'lo: 1', 'ping: ok', 'own name: 1'], 'its own name, only lo and up, and its name in /etc/hosts');
  await eventually(`${own} is removed once the task ended`, async () => !existsSync(own));
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir }), []);
});

t.test('two such tasks share no namespace and no file', async (t) => {
  const ids = [uniqueTaskId('ownns-a'), uniqueTaskId('ownns-b')];
  const seen = await Promise.all(
    ids.map(async (taskId) => {
      await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', 'readlink /proc/self/ns/net; sleep 1'] } } });
      await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
      const info = await inspect(h, (await ex.get(taskId)).containerId ?? '');
      await ex.waitForState(taskId, 'TASK_STATE_FINISHED');
      return { ns: ((await ex.get(taskId)).outputTail ?? '').trim(), hosts: info.Mounts.find((m) => m.Destination === '/etc/hosts')?.Source };
    }),
  );
  const [a, b] = seen as [(typeof seen)[0], (typeof seen)[0]];
  t.match(a.ns, /^net:\[\d+\]$/);
  t.not(a.ns, b.ns, 'two network namespaces');
  t.not(a.hosts, b.hosts, 'two /etc/hosts files');
});

t.test('SIGKILL: a live task keeps its /etc files, those of tasks that are gone are removed', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-ownns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const executorId = `ownns-crash-${h.runId}`;
  const stateDir = join(dir, 'state');
  const serve = serveProcesses(t, dir, { executorId, stateDir, docker: { host: h.dockerHost } });
  const first = await serve.start();
  const c1 = first.client;
  const live = uniqueTaskId('ownns-live');
  const ended = uniqueTaskId('ownns-ended');
  await call(c1.LaunchTask.bind(c1), { taskId: live, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '300'] } } });
  await eventually(`${live} runs`, async () => /RUNNING/.test((await call(c1.GetTask.bind(c1), { taskId: live })).state ?? ''));
  // As a crash between a launch's files and its end would leave them: a directory no task record names.
  mkdirSync(join(stateDir, 'task-files', ended), { recursive: true });
  writeFileSync(join(stateDir, 'task-files', ended, 'hosts'), 'stale\n');
  await first.crash();

  const second = await serve.start();
  const c2 = second.client;
  await eventually('recovery removed the directory of the task that is gone', async () => !existsSync(join(stateDir, 'task-files', ended)));
  t.ok(existsSync(join(stateDir, 'task-files', live, 'hosts')), 'the live task keeps its /etc/hosts');
  t.match((await call(c2.GetTask.bind(c2), { taskId: live })).state, /RUNNING/, 'and runs on');
  await call(c2.KillTask.bind(c2), { taskId: live });
  await eventually(`${live} is killed`, async () => /KILLED/.test((await call(c2.GetTask.bind(c2), { taskId: live })).state ?? ''));
  t.same(await settledCensus({ h, executorId, client: c2, stateDir }), [], 'nothing left that no live task owns');
  await second.crash();
});

t.test('an executor whose files the engine cannot see keeps the engine\'s network mode none, and says why', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-ownns-apart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  // The daemon in a mount namespace of its own with a tmpfs on its state directory, as an executor in a
  // container of its own would be: dockerd, outside, sees the empty directory underneath, not its files.
  const apart = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs tmpfs '${stateDir}' && exec "$@"`, 'sh'];
  const serve = serveProcesses(t, dir, { executorId: `ownns-apart-${h.runId}`, stateDir, docker: { host: h.dockerHost } }, {}, apart);
  const daemon = await serve.start();
  const c = daemon.client;
  const status = (await call(c.GetHostResources.bind(c), {})).status;
  t.match(status.find((s) => s.startsWith('task namespaces:')) ?? '', /^task namespaces: from the engine \(network mode none\): could not show that the engine sees files in \S+: .*bind source path does not exist/, `the reason is shown: ${status.join(' | ')}`);
  const taskId = uniqueTaskId('ownns-apart');
  await call(c.LaunchTask.bind(c), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', 'hostname; grep -c localhost /etc/hosts'] } } });
  await eventually(`${taskId} finishes`, async () => /FINISHED|FAILED/.test((await call(c.GetTask.bind(c), { taskId })).state ?? ''));
  const task = await call(c.GetTask.bind(c), { taskId });
  t.match(task.state, /FINISHED/, `it ran: ${task.lastUpdate?.message ?? ''}`);
  t.same((task.outputTail ?? '').trim().split('\n'), [hostnameFor(taskId), '2'], 'its hostname, and the engine\'s /etc/hosts');
  await daemon.crash();
  t.same(await containersWithLabel(h, 'titus.executor.id', `ownns-apart-${h.runId}`), [], 'no probe or task container left');
});
