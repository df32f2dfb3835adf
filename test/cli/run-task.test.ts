/**
 * `titus-executor run-task` (the per-task mode) as a real process against a
 * harness engine. GPU fakes as in test/gpu/gpu-tasks.test.ts: the fake
 * nvidia-smi (FAKE_NVIDIA_SMI_MODE=gpus8) stands for an 8-GPU host, a plain
 * file for /dev/nvidia0, the fake oci-add-hooks for Netflix's runtime.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { containersWithLabel, useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { loadExecutorProto } from '../../src/api/proto.js';
import { ExclusiveGpuAllocator, FileGpuLockStore, readGpuInventory } from '../../src/gpu/index.js';
import { runTaskExecutorId } from '../../src/cli/run-task.js';
import { readPublishedRunTasks, type RunTaskStateDocument } from '../../src/cli/run-task-state.js';
import { assertBuilt, spawnRunTask, type RunTaskProcess } from './run-task-process.js';

const fakeNvidiaSmi = fileURLToPath(new URL('../fixtures/nvidia-smi/nvidia-smi', import.meta.url));

let h: Harness;
let dir: string;
let configFile: string;
let gpuConfig: Record<string, unknown>;
const running = new Set<RunTaskProcess>();

t.before(async () => {
  assertBuilt();
  dir = mkdtempSync(join(tmpdir(), 'titus-run-task-'));
  const devNode = join(dir, 'nvidia0');
  writeFileSync(devNode, '');
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath });
  h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  gpuConfig = { nvidiaSmiPath: fakeNvidiaSmi, deviceNodePath: devNode, lockDir: join(dir, 'gpu-locks'), hookConfigPath, hookPath: '/bin/true' };
  configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    toYaml({ executorId: `test-${h.runId}`, logLevel: 'info', docker: { host: h.dockerHost, pullAttempts: 2, pullBackoffMs: 100 }, gpu: gpuConfig }),
  );
});

t.teardown(() => {
  for (const p of running) p.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const executorId = (): string => runTaskExecutorId(`test-${h.runId}`);

const containerInfoFile = (name: string, info: Record<string, unknown>): string => {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(info));
  return file;
};

const start = (taskId: string, infoFile: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): RunTaskProcess => {
  const p = spawnRunTask(
    ['--config', configFile, '--task-id', taskId, '--container-info', infoFile, '--run-task-dir', join(dir, 'run-task'), ...extra],
    { FAKE_NVIDIA_SMI_MODE: 'gpus8', ...env },
  );
  running.add(p);
  void p.exit.then(() => running.delete(p));
  return p;
};

const sleeper = (): Record<string, unknown> => ({
  fullyQualifiedImage: h.images.busyboxRepo,
  killWaitSeconds: 2,
  process: { command: ['sh', '-c', 'trap "" TERM; sleep 300'] },
});

t.test('a task runs to FINISHED with a proto-JSON status line per update', async (t) => {
  const taskId = uniqueTaskId('rt');
  const stateFile = join(dir, taskId, 'state.json');
  const info = containerInfoFile(`${taskId}.json`, { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', 'echo hello'] } });
  // A fake systemd-notify (as under titus-executor@.service, Type=notify) records what systemd would get.
  const notifyLog = join(dir, `${taskId}.notify`);
  writeFileSync(join(dir, 'systemd-notify'), `#!/bin/sh\necho "$*" >> "$NOTIFY_LOG"\n`);
  chmodSync(join(dir, 'systemd-notify'), 0o755);
  const notifyEnv = { PATH: `${dir}:${process.env['PATH'] ?? ''}`, NOTIFY_SOCKET: join(dir, 'notify'), NOTIFY_LOG: notifyLog };
  const p = start(taskId, info, ['--state-file', stateFile, '--cpu', '0.5', '--memory', '64'], notifyEnv);
  const exit = await p.exit;
  t.equal(exit.code, 0, 'exits 0', { stderr: exit.stderr });
  t.same(p.garbage, [], 'stdout holds only JSON lines');
  const states = p.updates.map((u) => u.state);
  t.equal(states[0], 'TASK_STATE_ACCEPTED');
  t.ok(states.includes('TASK_STATE_RUNNING'), states.join(','));
  t.equal(states.at(-1), 'TASK_STATE_FINISHED');
  for (const u of p.updates) {
    t.equal(u.taskId, taskId);
    t.match(u, { sequence: /^\d+$/, timestamp: /^\d{4}-\d\d-\d\dT/, reasonCode: String });
  }
  const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as RunTaskStateDocument & { task: Record<string, unknown> };
  t.equal(doc.executorId, executorId(), 'labelled apart from the daemon');
  t.match(doc.task, { taskId, state: 'TASK_STATE_FINISHED', resources: { cpu: 0.5, memoryMb: 64 }, outputTail: /hello/ });
  t.ok(existsSync(join(dir, 'run-task', `${taskId}.json`)), 'published for the daemon');
  const notes = readFileSync(notifyLog, 'utf8').trim().split('\n');
  t.match(notes[0], /^--status=task \S+ ACCEPTED/, 'a status line per state');
  t.match(notes.find((n) => n.startsWith('--ready')), /^--ready --status=task \S+ RUNNING/, 'READY=1 once the task runs');
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId()), [], 'no container left behind');
});

t.test('a base64 ContainerInfo goes through the same validation as LaunchTask', async (t) => {
  const bytes = loadExecutorProto().encodeContainerInfo({ fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] } });
  const file = join(dir, 'ci.b64');
  writeFileSync(file, Buffer.from(bytes).toString('base64'));
  const ok = start(uniqueTaskId('rt'), file);
  t.equal((await ok.exit).code, 0);
  t.equal(ok.updates.at(-1)?.state, 'TASK_STATE_FINISHED');

  const bad = start(uniqueTaskId('rt'), containerInfoFile('bad.json', { process: { command: ['true'] } }));
  const exit = await bad.exit;
  t.equal(exit.code, 2, 'not started');
  t.match(exit.stderr, /containerInfo/, 'names the field, as LaunchTask does');
  t.same(bad.updates, [], 'no status for a request that was refused');
});

t.test('SIGTERM kills the task with its grace period and exits non-zero with KILLED', async (t) => {
  const taskId = uniqueTaskId('rt');
  const p = start(taskId, containerInfoFile(`${taskId}.json`, sleeper()));
  await p.waitForState('TASK_STATE_RUNNING');
  const published = (): ReturnType<typeof readPublishedRunTasks>[number] | undefined =>
    readPublishedRunTasks(join(dir, 'run-task')).find((r) => (r.document.task as { taskId?: string }).taskId === taskId);
  while ((published()?.document.task as { state?: string } | undefined)?.state !== 'TASK_STATE_RUNNING') await new Promise((r) => setTimeout(r, 50));
  t.equal(published()?.alive, true, 'the daemon can see it running, and by whom');
  const started = Date.now();
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  const took = Date.now() - started;
  t.equal(exit.code, 3, 'exits 3 (KILLED)', { stderr: exit.stderr });
  t.equal(p.updates.at(-1)?.state, 'TASK_STATE_KILLED');
  t.ok(p.updates.some((u) => u.state === 'TASK_STATE_KILL_INITIATED'));
  t.ok(took >= 2000 && took < 30_000, `the 2 s grace period was honoured (${took} ms)`);
  t.match(published(), { alive: false, document: { task: { state: 'TASK_STATE_KILLED' } } }, 'and that it ended');
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId()), []);
});

t.test('GPUs held by run-task are not given to the daemon or another allocator', async (t) => {
  const taskId = uniqueTaskId('rt-gpu');
  const p = start(taskId, containerInfoFile(`${taskId}.json`, sleeper()), ['--gpus', '8']);
  await p.waitForState('TASK_STATE_RUNNING');

  process.env['FAKE_NVIDIA_SMI_MODE'] = 'gpus8';
  const lockDir = String(gpuConfig['lockDir']);
  const inventory = await readGpuInventory({ nvidiaSmiPath: fakeNvidiaSmi, deviceNodePath: String(gpuConfig['deviceNodePath']) });
  const other = new ExclusiveGpuAllocator(inventory.gpus, { lockStore: new FileGpuLockStore({ lockDir }) });
  t.throws(() => other.allocate('someone-else', 1), { code: 'RESOURCE_EXHAUSTED' }, 'all 8 are locked by run-task');

  const daemon = await startTestExecutor(t, h, { gpu: gpuConfig });
  const req = { taskId: uniqueTaskId('d-gpu'), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] } }, resources: { gpus: 1 } };
  await t.rejects(daemon.launch(req), { code: grpc.status.RESOURCE_EXHAUSTED }, 'the daemon cannot take them either');

  p.child.kill('SIGTERM');
  t.equal((await p.exit).code, 3);
  const after = await daemon.run({ ...req, taskId: uniqueTaskId('d-gpu') });
  t.equal(after.at(-1)?.state, 'TASK_STATE_FINISHED', 'released when run-task ends');
});
