/**
 * What the pool restart tests ask of a running `serve` (and of its engine):
 * its pool line, a full pool, a launch, a task's state, the pooled sandboxes
 * on the engine, and which sandbox a container joined.
 */
import type { Test } from 'tap';
import type { Harness } from '../harness/index.js';
import type { ServeProcesses } from '../helpers/serve-process.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';

export const poolClient = (h: Harness, executorId: string, poolSize: number) => {
  const poolLine = async (c: TitusExecutorClient): Promise<string> =>
    (await call(c.GetHostResources.bind(c), {})).status.find((s) => s.startsWith('sandbox pool:')) ?? '';
  const untilFull = async (c: TitusExecutorClient): Promise<string> => {
    for (let i = 0; i < 300; i++) {
      const line = await poolLine(c);
      if (line.startsWith(`sandbox pool: ${poolSize}/${poolSize} ready`)) return line;
      await new Promise((r) => setTimeout(r, 100));
    }
    return poolLine(c);
  };
  const launch = async (c: TitusExecutorClient, command: string): Promise<string> => {
    const taskId = uniqueTaskId('pr');
    await call(c.LaunchTask.bind(c), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', command] } } });
    return taskId;
  };
  const state = async (c: TitusExecutorClient, taskId: string, want: RegExp): Promise<string> => {
    for (let i = 0; i < 300; i++) {
      const task = await call(c.GetTask.bind(c), { taskId });
      if (want.test(task.state ?? '')) return task.containerId ?? '';
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${taskId} never reached ${want.source}`);
  };
  const pooledSandboxes = async (): Promise<string[]> =>
    (await h.docker(['ps', '-aq', '--no-trunc', '--filter', `label=titus.executor.id=${executorId}`, '--filter', 'label=titus.executor.role=pooled-sandbox'])).stdout
      .split('\n')
      .filter((id) => id !== '')
      .sort();
  const joined = async (containerId: string): Promise<string> =>
    (await h.docker(['inspect', '-f', '{{.HostConfig.NetworkMode}}', containerId])).stdout.trim().replace(/^container:/, '');
  return { poolLine, untilFull, launch, state, pooledSandboxes, joined };
};

/**
 * The crash both pool restart tests start with: a full pool, two live pooled
 * tasks and one that ends while the executor is down; kill -9; a restarted
 * executor that keeps the live tasks' sandboxes, removes the rest and fills
 * its own pool. Returns the restarted client and what the tasks joined.
 */
export const crashWithPooledTasks = async (
  t: Test,
  h: Harness,
  serve: ServeProcesses,
  pool: ReturnType<typeof poolClient>,
  poolSize: number,
): Promise<{ second: TitusExecutorClient; live: string[]; after: string[]; sandboxOf: Map<string, string> }> => {
  const { untilFull, launch, state, pooledSandboxes, joined } = pool;
    const firstDaemon = await serve.start();
    const first = firstDaemon.client;
    t.match(await untilFull(first), `${poolSize}/${poolSize} ready`, 'the first executor filled its pool');
    const live = [await launch(first, 'sleep 300'), await launch(first, 'sleep 300')];
    const shortLived = await launch(first, 'sleep 2');
    const containerOf = new Map<string, string>();
    for (const taskId of [...live, shortLived]) containerOf.set(taskId, await state(first, taskId, /RUNNING/));
    const sandboxOf = new Map<string, string>();
    for (const [taskId, containerId] of containerOf) sandboxOf.set(taskId, await joined(containerId));
    t.ok([...sandboxOf.values()].every((id) => /^[0-9a-f]{64}$/.test(id)), 'all three tasks joined pooled sandboxes');
    await untilFull(first);

    await firstDaemon.crash();
    const before = await pooledSandboxes();
    t.equal(before.length, 3 + poolSize, 'while the executor is down: three sandboxes in use and a full idle pool');
    for (let i = 0; i < 100; i++) {
      if ((await h.docker(['inspect', '-f', '{{.State.Running}}', containerOf.get(shortLived) ?? ''])).stdout.trim() === 'false') break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const second = (await serve.start()).client;
    await state(second, shortLived, /FINISHED/);
    t.match(await untilFull(second), `${poolSize}/${poolSize} ready`, 'the restarted executor filled a pool of its own');
    const after = await pooledSandboxes();
    t.ok(live.every((id) => after.includes(sandboxOf.get(id) ?? '')), 'the live tasks keep the sandboxes they joined');
    t.notOk(after.includes(sandboxOf.get(shortLived) ?? ''), 'the sandbox of the task that ended while the executor was down is removed');
    const idleBefore = before.filter((id) => ![...sandboxOf.values()].includes(id));
    t.notOk(idleBefore.some((id) => after.includes(id)), 'the crashed process\'s idle sandboxes are removed');
    t.equal(after.length, live.length + poolSize, 'what is left: the live tasks\' sandboxes and the new pool');
  return { second, live, after, sandboxOf };
};
