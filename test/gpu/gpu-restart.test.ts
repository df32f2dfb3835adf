/**
 * GPUs across an executor crash: the executor runs as a real child process
 * (`titus-executor serve`), is SIGKILLed while a GPU task runs, and restarts.
 * Fakes as in gpu-tasks.test.ts: the fixture nvidia-smi stands for an 8-GPU
 * host, the fixture oci-add-hooks for Netflix's runtime wrapper around runc.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { useHarness } from '../harness/index.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { call, createClient } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/api/generated/titus/executor/v1/TitusExecutor.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'bin', 'titus-executor.js');
const built = existsSync(join(root, 'dist', 'src', 'cli', 'main.js'));

t.test('GPUs of a task that outlives an executor crash are re-derived, not double-granted, and come back', { skip: built ? false : 'needs `npm run build` (npm test builds first)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-gpu-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'nvidia0'), '');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath: join(dir, 'hooks.json') });
  const h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  const socket = join(dir, 'executor.sock');
  const configPath = join(dir, 'config.yaml');
  writeFileSync(
    configPath,
    stringify({
      executorId: `restart-${h.runId}`,
      logLevel: 'warn',
      metrics: { listen: null },
      api: { socketPath: socket },
      docker: { host: h.dockerHost },
      gpu: {
        nvidiaSmiPath: fileURLToPath(new URL('../fixtures/nvidia-smi/nvidia-smi', import.meta.url)),
        deviceNodePath: join(dir, 'nvidia0'),
        lockDir: join(dir, 'locks'),
        hookConfigPath: join(dir, 'hooks.json'),
        hookPath: '/bin/true',
      },
    }),
  );
  const daemons: ChildProcess[] = [];
  t.teardown(() => daemons.forEach((d) => d.kill('SIGKILL')));
  const start = async (): Promise<TitusExecutorClient> => {
    rmSync(socket, { force: true });
    const d = spawn(process.execPath, [cli, 'serve', '--config', configPath], { env: { ...process.env, FAKE_NVIDIA_SMI_MODE: 'gpus8' }, stdio: 'inherit' });
    daemons.push(d);
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    return createClient({ socket });
  };
  const launch = (c: TitusExecutorClient, gpus: number, command: string[]) => {
    const taskId = uniqueTaskId('gr');
    return call(c.LaunchTask.bind(c), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command } }, resources: { gpus } }).then(() => taskId);
  };
  const waitRunning = async (c: TitusExecutorClient, taskId: string): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const task = await call(c.GetTask.bind(c), { taskId });
      if (task.state === 'TASK_STATE_RUNNING') return task.containerId ?? '';
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${taskId} never ran`);
  };
  const holders = async (c: TitusExecutorClient): Promise<Map<string, string>> =>
    new Map((await call(c.GetHostResources.bind(c), {})).gpus.filter((g) => g.taskId).map((g) => [g.uuid ?? '', g.taskId ?? '']));

  const first = await start();
  const survivor = await launch(first, 4, ['sleep', '8']);
  const survivorContainer = await waitRunning(first, survivor);
  const survivorGpus = fake.created(survivorContainer)?.env['NVIDIA_VISIBLE_DEVICES']?.split(',') ?? [];
  t.equal(survivorGpus.length, 4);
  daemons[0]?.kill('SIGKILL');
  await new Promise((r) => daemons[0]?.once('exit', r));
  first.close();

  const second = await start();
  const held = await holders(second);
  t.same([...held.keys()].sort(), [...survivorGpus].sort(), 'the restarted executor re-derived the running task\'s GPUs');
  await t.rejects(launch(second, 8, ['true']), { code: grpc.status.RESOURCE_EXHAUSTED }, 'not double-granted');
  const other = await launch(second, 4, ['sleep', '30']);
  const otherGpus = fake.created(await waitRunning(second, other))?.env['NVIDIA_VISIBLE_DEVICES']?.split(',') ?? [];
  t.same(otherGpus.filter((u) => survivorGpus.includes(u)), [], 'the other four went to the new task');
  // The survivor's container exits on its own; its GPUs come back.
  for (let i = 0; i < 200 && [...(await holders(second)).values()].includes(survivor); i++) await new Promise((r) => setTimeout(r, 100));
  t.notOk([...(await holders(second)).values()].includes(survivor), 'released when the surviving container exited');
  const again = await launch(second, 4, ['true']);
  t.ok(again, 'four GPUs free again');
  await call(second.KillTask.bind(second), { taskId: other, killWaitSeconds: 0 });
  second.close();
  // The survivor's container has no task record in the restarted executor (task
  // recovery is its own issue), so the test removes it.
  await h.docker(['rm', '-f', survivorContainer], { allowFailure: true });
});
