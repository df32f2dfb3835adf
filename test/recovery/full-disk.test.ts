/**
 * The state directory on a small filesystem of its own (tmpfs) that fills up
 * while a task runs, and stays full while the executor (a real `serve`
 * process) is SIGKILLed and started again. What watchers were told and what
 * the store holds never disagree: the task's end is held (its container kept)
 * until it can be recorded, then streamed once, with a sequence never used
 * before; launches are refused only while the filesystem is full; after
 * another restart the task is FINISHED, not LOST.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import { call } from '../../src/cli/client.js';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { TERMINAL, eventually, sleep, watchAll } from '../helpers/watch.js';
import { cannotMount, fillUp, smallTmpfs } from '../helpers/small-fs.js';

t.test('a state directory that fills during a task and during a restart: history stays consistent', { skip: needsBuild() || cannotMount() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-full-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t);
  const stateDir = smallTmpfs(t, 4096);
  const executorId = `full-${h.runId}`;
  // The logs live elsewhere here: this test is about records (the reserve has its own test).
  const serve = serveProcesses(t, dir, { executorId, stateDir, logs: { dir: join(dir, 'logs'), reserveMb: 0.25 }, docker: { host: h.dockerHost, pullAttempts: 1 } });
  const image = h.images.busyboxRepo;
  const launch = (c: TitusExecutorClient, taskId: string, command: string[]) =>
    call(c.LaunchTask.bind(c), { taskId, containerInfo: { fullyQualifiedImage: image, process: { command } } });
  const state = (c: TitusExecutorClient, id: string) => call(c.GetTask.bind(c), { taskId: id });
  const containerOf = async (taskId: string) => (await h.docker(['ps', '-aq', '--filter', `label=titus.task_id=${taskId}`])).stdout.trim();

  const first = await serve.start();
  const c1 = first.client;
  const watch1 = watchAll(c1, 0);
  const task = uniqueTaskId('ends-while-full');
  await launch(c1, task, ['sh', '-c', 'sleep 4; exit 0']);
  await eventually(`${task} RUNNING`, async () => (await state(c1, task)).state === 'TASK_STATE_RUNNING');

  const release = fillUp(stateDir);
  let released = false;
  t.teardown(() => (released ? undefined : release()));
  await t.rejects(launch(c1, uniqueTaskId('refused'), ['true']), { code: 14 }, 'a launch is refused (UNAVAILABLE) while the state directory is full');
  await sleep(7000); // the task exits meanwhile
  t.equal((await state(c1, task)).state, 'TASK_STATE_RUNNING', 'GetTask still says RUNNING: its end is not recorded');
  t.notOk(watch1.updates.some((u) => u.taskId === task && TERMINAL.test(u.state ?? '')), 'no terminal update streamed while it cannot be recorded');
  t.not(await containerOf(task), '', 'the exited container is kept while its end is not recorded');

  await first.crash();
  const seenBefore = [...watch1.updates];
  const lastSeen = Math.max(0, ...seenBefore.map((u) => Number(u.sequence)));

  // Restarted while the filesystem is still full.
  const second = await serve.start();
  const c2 = second.client;
  const watch2 = watchAll(c2, lastSeen);
  t.teardown(() => watch2.cancel());
  await sleep(3000);
  t.equal((await state(c2, task)).state, 'TASK_STATE_RUNNING', 'after the restart, still full: GetTask says what watchers were told');
  t.notOk(watch2.updates.some((u) => u.taskId === task && TERMINAL.test(u.state ?? '')), 'still no terminal update');
  await t.rejects(launch(c2, uniqueTaskId('refused'), ['true']), { code: 14 }, 'launches are refused while it is still full');

  release();
  released = true;
  await eventually(`${task} ends`, async () => TERMINAL.test((await state(c2, task)).state ?? ''));
  t.match((await state(c2, task)).lastUpdate, { state: 'TASK_STATE_FINISHED', exit: { exitCode: 0 } }, 'FINISHED once it can be recorded');
  const later = uniqueTaskId('after');
  await launch(c2, later, ['true']);
  await eventually(`${later} ends`, async () => TERMINAL.test((await state(c2, later)).state ?? ''));
  t.equal((await state(c2, later)).state, 'TASK_STATE_FINISHED', 'launches are accepted again once there is room');
  await sleep(500);
  const streamed = [...seenBefore, ...watch2.updates];
  const sequences = streamed.map((u) => Number(u.sequence));
  t.equal(new Set(sequences).size, sequences.length, 'no sequence streamed twice across the restart');
  t.ok(watch2.updates.every((u) => Number(u.sequence) > lastSeen), 'numbering continued above everything streamed before');
  t.equal(streamed.filter((u) => u.taskId === task && TERMINAL.test(u.state ?? '')).length, 1, 'one terminal update, seen by the resumed watcher');
  watch2.cancel();
  await second.crash();

  const third = await serve.start();
  const c3 = third.client;
  const after = await state(c3, task);
  t.equal(after.state, 'TASK_STATE_FINISHED', 'after one more restart: FINISHED, not LOST');
  t.same(
    after.history.map((u) => `${u.sequence} ${u.state}`),
    streamed.filter((u) => u.taskId === task).map((u) => `${u.sequence} ${u.state}`),
    'the stored history is exactly what watchers were told',
  );
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId), [], 'nothing left behind');
  watch1.cancel();
  c3.close();
});

t.test('held updates are logged and counted while the store refuses them', { skip: cannotMount() }, async (t) => {
  const h = await useHarness(t);
  const stateDir = smallTmpfs(t, 2048);
  const logLines: string[] = [];
  const { createLogger } = await import('../../src/common/log.js');
  const { Writable } = await import('node:stream');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const log = createLogger('warn', sink);
  const ex = await startTestExecutor(t, h, { stateDir, executorId: `held-${h.runId}`, logs: { reserveMb: 0.25 } }, [], log);
  const metric = async (name: string): Promise<number | undefined> => valueOf(parseExposition(await ex.executor.metrics.exposition()), name);
  const taskId = uniqueTaskId('held');
  await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '30'] } } });
  await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  t.equal(await metric('titus_executor_state_write_failures_total'), 0);
  const release = fillUp(stateDir);
  let released = false;
  t.teardown(() => (released ? undefined : release()));
  const killed = await ex.kill(taskId, 1);
  t.equal(killed.state, 'TASK_STATE_RUNNING', 'KillTask answers with what is recorded: RUNNING');
  t.equal(await metric('titus_executor_held_updates'), 1, 'KILL_INITIATED is held');
  await eventually('retries meet the full store', async () => ((await metric('titus_executor_state_write_failures_total')) ?? 0) >= 3);
  t.ok(logLines.some((l) => /cannot write the task record/.test(l) && l.includes(taskId) && /ENOSPC/.test(l)), 'the refused write is logged, with the task and the errno');
  t.equal((await ex.get(taskId)).state, 'TASK_STATE_RUNNING', 'GetTask says RUNNING while nothing more is recorded');
  release();
  released = true;
  const updates = await ex.waitForState(taskId, 'terminal');
  t.same(
    updates.filter((u) => u.state !== 'TASK_STATE_STARTING').map((u) => u.state),
    ['TASK_STATE_ACCEPTED', 'TASK_STATE_RUNNING', 'TASK_STATE_KILL_INITIATED', 'TASK_STATE_KILLED'],
    'the held KILL_INITIATED is streamed in its place, then the end',
  );
  t.equal(await metric('titus_executor_held_updates'), 0, 'nothing held once written');
});
