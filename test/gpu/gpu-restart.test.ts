/**
 * GPUs across an executor crash: the executor runs as a real child process
 * (`titus-executor serve`), is SIGKILLed while a GPU task runs, and restarts.
 * Fakes as in gpu-tasks.test.ts: the fixture nvidia-smi stands for an 8-GPU
 * host, the fixture oci-add-hooks for Netflix's runtime wrapper around runc.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { startFakeGpuHost } from '../helpers/gpu-host.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { call } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';


t.test('GPUs of a task that outlives an executor crash are re-derived, not double-granted, and come back', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-gpu-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'nvidia0'), '');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath: join(dir, 'hooks.json') });
  const h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  const serve = serveProcesses(
    t,
    dir,
    {
      executorId: `restart-${h.runId}`,
      docker: { host: h.dockerHost },
      gpu: {
        nvidiaSmiPath: fileURLToPath(new URL('../fixtures/nvidia-smi/nvidia-smi', import.meta.url)),
        deviceNodePath: join(dir, 'nvidia0'),
        lockDir: join(dir, 'locks'),
        hookConfigPath: join(dir, 'hooks.json'),
        hookPath: '/bin/true',
      },
    },
    { FAKE_NVIDIA_SMI_MODE: 'gpus8' },
  );
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

  const firstDaemon = await serve.start();
  const first = firstDaemon.client;
  const survivor = await launch(first, 4, ['sleep', '8']);
  const survivorContainer = await waitRunning(first, survivor);
  const survivorGpus = fake.created(survivorContainer)?.env['NVIDIA_VISIBLE_DEVICES']?.split(',') ?? [];
  t.equal(survivorGpus.length, 4);
  await firstDaemon.crash();

  const second = (await serve.start()).client;
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
  const stateDir = join(dir, 'state');
  t.same(await settledCensus({ h, executorId: `restart-${h.runId}`, client: second, stateDir, gpuLockDir: join(dir, 'locks') }), [], 'nothing left that no live task owns');
  second.close();
  // The restarted executor re-attached the survivor from its record and removed its container when it exited.
  const left = await h.docker(['ps', '-aq', '--filter', `id=${survivorContainer}`]);
  t.equal(left.stdout.trim(), '', 'the survivor\'s container was removed by the restarted executor');
});

t.test('no GPU lock outlives its task across a kill -9 of the executor', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-gpu-locks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const gpuHost = await startFakeGpuHost(t, dir);
  const { h } = gpuHost;
  const executorId = `gpu-locks-${h.runId}`;
  const stateDir = join(dir, 'state');
  const lockDir = String(gpuHost.gpuConfig['lockDir']);
  const serve = serveProcesses(t, dir, { executorId, stateDir, docker: { host: h.dockerHost }, gpu: gpuHost.gpuConfig, container: { defaultKillWaitSeconds: 1 } }, { FAKE_NVIDIA_SMI_MODE: 'gpus8' });
  const state = (c: TitusExecutorClient, taskId: string) => call(c.GetTask.bind(c), { taskId });
  const waitFor = async (c: TitusExecutorClient, taskId: string, re: RegExp): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      if (re.test((await state(c, taskId)).state ?? '')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${taskId} never reached ${re}`);
  };
  const locks = (): string[] => (existsSync(lockDir) ? readdirSync(lockDir).sort() : []);

  const first = await serve.start();
  const c1 = first.client;
  const launch = (gpus: number, command: string[]) => {
    const taskId = uniqueTaskId('gl');
    return call(c1.LaunchTask.bind(c1), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command } }, resources: { gpus } }).then(() => taskId);
  };
  const survivor = await launch(2, ['sleep', '300']);
  const endsWhileDown = await launch(2, ['sh', '-c', 'sleep 3; exit 0']);
  const killedInFlight = await launch(1, ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
  for (const id of [survivor, endsWhileDown, killedInFlight]) await waitFor(c1, id, /RUNNING/);
  t.equal(locks().length, 5, 'one lock file per GPU held');
  await call(c1.KillTask.bind(c1), { taskId: killedInFlight, killWaitSeconds: 2 });
  await first.crash();
  await new Promise((r) => setTimeout(r, 5000)); // the short task exits and the kill completes while no executor runs

  const second = await serve.start();
  const c2 = second.client;
  for (const id of [endsWhileDown, killedInFlight]) await waitFor(c2, id, /FINISHED|FAILED|KILLED|LOST/);
  t.match((await state(c2, endsWhileDown)).lastUpdate, { state: 'TASK_STATE_FINISHED' });
  t.match((await state(c2, killedInFlight)).lastUpdate, { state: 'TASK_STATE_KILLED' });
  t.same(await settledCensus({ h, executorId, client: c2, stateDir, gpuLockDir: lockDir }), [], 'only the running task holds GPU locks, in the name of the running executor');
  await call(c2.KillTask.bind(c2), { taskId: survivor, killWaitSeconds: 0 });
  await waitFor(c2, survivor, /KILLED/);
  t.same(await settledCensus({ h, executorId, client: c2, stateDir, gpuLockDir: lockDir }), [], 'nothing left once every task ended');
  t.same(locks(), [], 'no lock file left');
  c2.close();
});
