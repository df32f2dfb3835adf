/**
 * A task run by `titus-executor run-task` (a separate process) shows in the
 * daemon's ps and GetHostResources, and is shown LOST when its process dies
 * before the task ended. Real engine from test/harness; no fakes.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';
import { assertBuilt, spawnRunTask } from './run-task-process.js';

t.test('the daemon lists run-task tasks next to its own', async (t) => {
  assertBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'titus-run-task-ps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t);
  const daemon = await startTestExecutor(t, h, { runTaskDir: join(dir, 'run-task') });
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, toYaml({ executorId: `test-${h.runId}`, logLevel: 'warn', docker: { host: h.dockerHost } }));
  const infoFile = join(dir, 'info.json');
  writeFileSync(infoFile, JSON.stringify({ fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '300'] } }));

  const taskId = uniqueTaskId('rt');
  const p = spawnRunTask(['--config', configFile, '--task-id', taskId, '--container-info', infoFile, '--run-task-dir', join(dir, 'run-task'), '--memory', '64']);
  t.teardown(() => p.child.kill('SIGKILL'));
  await p.waitForState('TASK_STATE_RUNNING');
  const listed = await call(daemon.client.ListTasks.bind(daemon.client), {});
  const mine = listed.tasks.find((x) => x.taskId === taskId);
  t.equal(mine?.state, 'TASK_STATE_RUNNING', 'listed by the daemon');
  t.equal(mine?.labels?.['titus.executor.mode'], 'run-task', 'marked as a run-task task');
  const res = await call(daemon.client.GetHostResources.bind(daemon.client), {});
  t.equal(res.allocated?.memoryMb, 64, 'its resources count as allocated on the host');
  t.equal((await daemon.get(taskId)).state, 'TASK_STATE_RUNNING', 'GetTask finds it too');

  p.child.kill('SIGKILL'); // the run-task process dies; its container keeps running
  await p.exit;
  const lost = await daemon.get(taskId);
  t.equal(lost.state, 'TASK_STATE_LOST', 'a run-task task whose process died is LOST');
  t.match(lost.lastUpdate?.message ?? '', /run-task process \d+ is gone/);
  const stillListed = await call(daemon.client.ListTasks.bind(daemon.client), { includeTerminal: true });
  t.ok(stillListed.tasks.some((x) => x.taskId === taskId && x.state === 'TASK_STATE_LOST'));
  await h.docker(['rm', '-f', taskId], { allowFailure: true }); // the orphan is task recovery's to reap
});
