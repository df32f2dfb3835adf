/**
 * dockerd killed with SIGKILL under running tasks (the harness engine, as a
 * crash or the OOM killer would end it): no die event is sent, the
 * containers' shims outlive it, and the engine that comes back on the same
 * data root either stops them (default) or keeps them running
 * (`live-restore`). The executor must reconcile every unfinished task with
 * what the engine reports once it answers again: each terminal update exactly
 * once with the engine's exit code, a kill asked for during the outage
 * carried out, and no container (or anything else) left behind. Also with the
 * executor itself SIGKILLed and restarted while the engine is down.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import { call } from '../../src/cli/client.js';
import { createLogger, silentLogger } from '../../src/common/log.js';
import { useHarness } from '../harness/index.js';
import { census, settledCensus } from '../helpers/census.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { TERMINAL, eventually, sleep, watchAll } from '../helpers/watch.js';

/** TITUS_TEST_LOG=debug shows the in-process executor's log. */
const debugLog = () => (process.env['TITUS_TEST_LOG'] === 'debug' ? createLogger('debug') : silentLogger());

const state = (c: TitusExecutorClient, taskId: string) => call(c.GetTask.bind(c), { taskId });
const lastOf = async (c: TitusExecutorClient, taskId: string) => (await state(c, taskId)).lastUpdate;
const waitFor = (c: TitusExecutorClient, taskId: string, re: RegExp, timeoutMs = 60_000) =>
  eventually(`${taskId} reaches ${re}`, async () => re.test((await state(c, taskId)).state ?? ''), timeoutMs);

const launcher = (c: TitusExecutorClient, image: string) => async (kind: string, command: string[]): Promise<string> => {
  const taskId = uniqueTaskId(kind);
  await call(c.LaunchTask.bind(c), { taskId, containerInfo: { fullyQualifiedImage: image, process: { command } } });
  return taskId;
};

const terminalsOf = (updates: readonly TaskStatusUpdate__Output[], taskId: string) => updates.filter((u) => u.taskId === taskId && TERMINAL.test(u.state ?? ''));

t.test('dockerd SIGKILLed without live-restore: every task ends once with the engine\'s exit code; a kill during the outage ends KILLED', async (t) => {
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h, { container: { defaultKillWaitSeconds: 1 } }, [], debugLog());
  const watch = watchAll(ex.client);
  t.teardown(() => watch.cancel());
  const launch = launcher(ex.client, h.images.busyboxRepo);
  const sleepers = await Promise.all([1, 2, 3].map(() => launch('ec-sleep', ['sleep', '300'])));
  const trapper = await launch('ec-trap', ['sh', '-c', 'trap "exit 42" TERM; while true; do sleep 0.1; done']);
  const killed = await launch('ec-kill', ['sleep', '300']);
  const all = [...sleepers, trapper, killed];
  for (const id of all) await waitFor(ex.client, id, /RUNNING/);

  await h.restartEngine(0, {
    signal: 'SIGKILL',
    until: async () => {
      await eventually('the executor notices the engine is gone', () => !ex.executor.engine.isUp());
      const during = await ex.kill(killed, 1);
      t.equal(during.state, 'TASK_STATE_KILL_INITIATED', 'a KillTask during the outage is accepted');
      await sleep(1000);
    },
  });
  await eventually('the executor is reconnected', () => ex.executor.engine.isUp());
  // The engine that came back stopped what it found running: SIGTERM through the container's
  // init (sleep ends by signal, 143; the trap with its own 42), SIGKILL after its stop timeout.
  for (const id of all) await waitFor(ex.client, id, TERMINAL, 30_000);
  for (const id of sleepers) {
    const end = await lastOf(ex.client, id);
    t.equal(end?.state, 'TASK_STATE_FAILED', `${id}: ended by the engine's restart: FAILED`);
    t.ok([137, 143].includes(end?.exit?.exitCode ?? 0), `${id}: ended by a signal (${end?.exit?.exitCode})`);
  }
  t.match(await lastOf(ex.client, trapper), { state: 'TASK_STATE_FAILED', exit: { exitCode: 42 } }, 'the trap\'s own exit code');
  t.match(await lastOf(ex.client, killed), { state: 'TASK_STATE_KILLED' }, 'the kill asked for during the outage is carried out');

  await sleep(500); // the last updates reach the watcher
  for (const id of all) t.equal(terminalsOf(watch.updates, id).length, 1, `${id}: one terminal update streamed`);
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir: ex.config.stateDir }), [], 'nothing left that no live task owns');

  const after = await ex.run({ taskId: uniqueTaskId('ec-after'), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] } } });
  t.equal(after.at(-1)?.state, 'TASK_STATE_FINISHED', 'launches work again');
});

t.test('dockerd SIGKILLed with live-restore: running tasks are re-attached, exits during the outage reported, a kill during it carried out', async (t) => {
  const h = await useHarness(t, { liveRestore: true });
  const ex = await startTestExecutor(t, h, { container: { defaultKillWaitSeconds: 1 } }, [], debugLog());
  const watch = watchAll(ex.client);
  t.teardown(() => watch.cancel());
  const launch = launcher(ex.client, h.images.busyboxRepo);
  const runner = await launch('lr-run', ['sleep', '300']);
  const exiter = await launch('lr-exit', ['sh', '-c', 'sleep 4; exit 7']);
  const killed = await launch('lr-kill', ['sleep', '300']);
  const all = [runner, exiter, killed];
  for (const id of all) await waitFor(ex.client, id, /RUNNING/);
  const started = Date.now();

  await h.restartEngine(0, {
    signal: 'SIGKILL',
    until: async () => {
      await eventually('the executor notices the engine is gone', () => !ex.executor.engine.isUp());
      t.equal((await ex.kill(killed, 1)).state, 'TASK_STATE_KILL_INITIATED', 'a KillTask during the outage is accepted');
      await sleep(Math.max(0, 6000 - (Date.now() - started))); // the exiter exits while the engine is down
    },
  });
  await eventually('the executor is reconnected', () => ex.executor.engine.isUp());

  await waitFor(ex.client, exiter, TERMINAL, 30_000);
  t.match(await lastOf(ex.client, exiter), { state: 'TASK_STATE_FAILED', exit: { exitCode: 7 } }, 'exited during the outage: its own exit code');
  await waitFor(ex.client, killed, TERMINAL, 30_000);
  t.match(await lastOf(ex.client, killed), { state: 'TASK_STATE_KILLED' }, 'the kill asked for during the outage is carried out');
  await sleep(2000);
  t.equal((await state(ex.client, runner)).state, 'TASK_STATE_RUNNING', 'a container the engine kept running is still RUNNING');
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir: ex.config.stateDir }), [], 'nothing left but the running task\'s');
  t.match(await census({ h, executorId: ex.config.executorId, liveTaskIds: [] }), [new RegExp(`^container \\w+ \\(running, role main\\) of task ${runner}$`)], 'told no task is live, the census lists the running task\'s container');

  await ex.kill(runner, 1);
  await waitFor(ex.client, runner, /KILLED/, 30_000);
  await sleep(500);
  for (const id of all) t.equal(terminalsOf(watch.updates, id).length, 1, `${id}: one terminal update streamed`);
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir: ex.config.stateDir }), [], 'nothing left');
});

t.test('dockerd SIGKILLed and the executor SIGKILLed and restarted during the outage', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-engine-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t);
  const executorId = `engine-crash-${h.runId}`;
  const stateDir = join(dir, 'state');
  const serve = serveProcesses(t, dir, { executorId, stateDir, docker: { host: h.dockerHost }, container: { defaultKillWaitSeconds: 1 } });
  const first = await serve.start();
  const watch1 = watchAll(first.client);
  const launch = launcher(first.client, h.images.busyboxRepo);
  const sleepers = await Promise.all([1, 2].map(() => launch('ecx-sleep', ['sleep', '300'])));
  const trapper = await launch('ecx-trap', ['sh', '-c', 'trap "exit 42" TERM; while true; do sleep 0.1; done']);
  const killedBefore = await launch('ecx-kill1', ['sleep', '300']);
  const killedAfter = await launch('ecx-kill2', ['sleep', '300']);
  const all = [...sleepers, trapper, killedBefore, killedAfter];
  for (const id of all) await waitFor(first.client, id, /RUNNING/);

  let second: Awaited<ReturnType<typeof serve.start>> | undefined;
  await h.restartEngine(0, {
    signal: 'SIGKILL',
    until: async () => {
      // Asked of the first executor while the engine is down, then that executor dies.
      await eventually('the first executor answers a kill during the outage', async () => {
        const r = await call(first.client.KillTask.bind(first.client), { taskId: killedBefore, killWaitSeconds: 1 }).catch(() => undefined);
        return r?.task?.state === 'TASK_STATE_KILL_INITIATED';
      });
      await first.crash();
      second = await serve.start();
      // Asked of the second executor, which has never seen the engine.
      const r = await call(second.client.KillTask.bind(second.client), { taskId: killedAfter, killWaitSeconds: 1 });
      t.equal(r.task?.state, 'TASK_STATE_KILL_INITIATED', 'the restarted executor accepts a kill while the engine is still down');
    },
  });
  if (second === undefined) throw new Error('unreachable: the second executor did not start');
  const c2 = second.client;
  const lastBefore = Math.max(0, ...watch1.updates.map((u) => Number(u.sequence)));
  const watch2 = watchAll(c2, lastBefore);
  t.teardown(() => watch2.cancel());
  for (const id of all) await waitFor(c2, id, TERMINAL, 60_000);
  for (const id of sleepers) t.match(await lastOf(c2, id), { state: 'TASK_STATE_FAILED' }, 'ended by the engine\'s restart');
  for (const id of sleepers) t.ok([137, 143].includes((await lastOf(c2, id))?.exit?.exitCode ?? 0));
  t.match(await lastOf(c2, trapper), { state: 'TASK_STATE_FAILED', exit: { exitCode: 42 } }, 'the trap\'s own exit code');
  t.match(await lastOf(c2, killedBefore), { state: 'TASK_STATE_KILLED' }, 'a kill asked of the executor that died is carried out');
  t.match(await lastOf(c2, killedAfter), { state: 'TASK_STATE_KILLED' }, 'a kill asked of the restarted executor during the outage is carried out');
  await sleep(500);
  const updates = [...watch1.updates, ...watch2.updates];
  for (const id of all) t.equal(terminalsOf(updates, id).length, 1, `${id}: one terminal update streamed across both executors`);
  t.same(await settledCensus({ h, executorId, client: c2, stateDir }), [], 'nothing left that no live task owns');
  watch1.cancel();
  c2.close();
});
