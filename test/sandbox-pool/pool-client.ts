/**
 * What the pool restart tests ask of a running `serve` (and of its engine):
 * its pool line, a full pool, a launch, a task's state, the pooled sandboxes
 * on the engine, and which sandbox a container joined.
 */
import type { Harness } from '../harness/index.js';
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
