/**
 * The executor (a real `titus-executor serve` child process) is SIGKILLed
 * with 20 tasks in mixed states — ended, running, exiting, being killed,
 * pulling, just launched — and a stray container carrying its labels, then
 * started again on the same state directory. Every task must be accounted
 * for with the right state and exit code, each terminal update streamed
 * exactly once across the restart, and nothing left behind.
 *
 * Real parts: dockerd and the registry from the harness. The "pulling"
 * tasks pull from a loopback TCP port that accepts and never answers (it
 * stands in for a registry that hangs).
 */
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import { call } from '../../src/cli/client.js';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { TERMINAL, eventually, sleep, watchAll } from '../helpers/watch.js';
import { startTarpit } from '../helpers/tarpit.js';

t.test('SIGKILL with 20 tasks in mixed states: every task accounted for after the restart', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t);
  const tarpitPort = await startTarpit(t);
  const executorId = `crash-${h.runId}`;
  const stateDir = join(dir, 'state');
  const serve = serveProcesses(t, dir, { executorId, stateDir, docker: { host: h.dockerHost, pullAttempts: 1 } });

  const first = await serve.start();
  const c1 = first.client;
  const watch1 = watchAll(c1, 0);
  const image = h.images.busyboxRepo;
  const launch = async (kind: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> => {
    const taskId = uniqueTaskId(kind);
    await call(c1.LaunchTask.bind(c1), { taskId, containerInfo: { fullyQualifiedImage: image, process: { command } }, ...extra });
    return taskId;
  };
  const state = async (c: TitusExecutorClient, id: string) => call(c.GetTask.bind(c), { taskId: id });
  const waitFor = (c: TitusExecutorClient, id: string, re: RegExp) =>
    eventually(`${id} reaches ${re}`, async () => re.test((await state(c, id)).state ?? ''));

  const finished = await Promise.all([1, 2, 3].map(() => launch('done', ['true'])));
  const failed = await Promise.all([1, 2].map(() => launch('fail', ['sh', '-c', 'exit 3'])));
  const running = await Promise.all([1, 2, 3, 4, 5].map(() => launch('run', ['sleep', '300'])));
  const exitsNonZero = await Promise.all([1, 2].map(() => launch('exit7', ['sh', '-c', 'sleep 2; exit 7'])));
  const exitsZero = await Promise.all([1, 2].map(() => launch('exit0', ['sh', '-c', 'sleep 2; exit 0'])));
  const killing = await launch('killing', ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
  const pulling = await Promise.all(
    [1, 2].map(async () => {
      const taskId = uniqueTaskId('pull');
      await call(c1.LaunchTask.bind(c1), { taskId, containerInfo: { fullyQualifiedImage: `127.0.0.1:${tarpitPort}/hangs/app`, version: "1" } });
      return taskId;
    }),
  );
  for (const id of [...finished, ...failed]) await waitFor(c1, id, TERMINAL);
  for (const id of [...running, ...exitsNonZero, ...exitsZero, killing]) await waitFor(c1, id, /RUNNING/);
  for (const id of pulling) await eventually(`${id} pulls`, async () => /pulling image/.test((await state(c1, id)).lastUpdate?.message ?? ''));
  await call(c1.KillTask.bind(c1), { taskId: killing, killWaitSeconds: 4 });
  await waitFor(c1, killing, /KILL_INITIATED/);
  // Launched the moment before the crash: any state from ACCEPTED to RUNNING.
  const racing = await Promise.all([1, 2, 3].map(() => launch('race', ['sh', '-c', 'sleep 3; exit 5'])));
  t.equal(finished.length + failed.length + running.length + exitsNonZero.length + exitsZero.length + 1 + pulling.length + racing.length, 20);
  // A container with this executor's labels that no task record owns.
  const ghost = await h.docker([
    'run', '-d', '--network', 'none', '--label', `titus.executor.id=${executorId}`, '--label', 'titus.executor.role=main',
    '--label', 'titus.task_id=ghost-task', image, 'sleep', '300',
  ]);

  await first.crash();
  const seenBefore = [...watch1.updates];
  await sleep(3000); // the exiting tasks exit while no executor runs

  const second = await serve.start();
  const c2 = second.client;
  const lastSeen = Math.max(0, ...seenBefore.map((u) => Number(u.sequence)));
  const watch2 = watchAll(c2, lastSeen);
  t.teardown(() => watch2.cancel());
  for (const id of running) t.match((await state(c2, id)).state, /RUNNING/, 'a running task is re-attached and still RUNNING');
  for (const id of running) await call(c2.KillTask.bind(c2), { taskId: id, killWaitSeconds: 1 });
  // Nothing of a task that was pulling can have run: it starts over (and pulls, and hangs, again).
  for (const id of pulling) {
    await eventually(`${id} pulls again`, async () => /pulling image/.test((await state(c2, id)).lastUpdate?.message ?? ''));
    const history = (await state(c2, id)).history.map((u) => u.message ?? '');
    t.ok(history.some((m) => /restarted before the container started; starting again/.test(m)), 'its history says it started over');
    await call(c2.KillTask.bind(c2), { taskId: id, killWaitSeconds: 1 });
  }
  const all = [...finished, ...failed, ...running, ...exitsNonZero, ...exitsZero, killing, ...pulling, ...racing];
  for (const id of all) await waitFor(c2, id, TERMINAL);

  const end = async (id: string) => (await state(c2, id)).lastUpdate;
  for (const id of finished) t.match(await end(id), { state: 'TASK_STATE_FINISHED', exit: { exitCode: 0 } }, 'ended before the crash: FINISHED');
  for (const id of failed) t.match(await end(id), { state: 'TASK_STATE_FAILED', exit: { exitCode: 3 } }, 'ended before the crash: FAILED 3');
  for (const id of running) t.match(await end(id), { state: 'TASK_STATE_KILLED' }, 'a re-attached task can be killed');
  for (const id of exitsNonZero) t.match(await end(id), { state: 'TASK_STATE_FAILED', exit: { exitCode: 7 } }, 'exited while down: FAILED with its real code');
  for (const id of exitsZero) t.match(await end(id), { state: 'TASK_STATE_FINISHED', exit: { exitCode: 0 } }, 'exited 0 while down: FINISHED');
  t.match(await end(killing), { state: 'TASK_STATE_KILLED' }, 'a kill in progress at the crash completes');
  for (const id of pulling) t.match(await end(id), { state: 'TASK_STATE_KILLED' }, 'pulling at the crash: started over, then killed');
  for (const id of racing) {
    t.match(await end(id), { state: 'TASK_STATE_FAILED', exit: { exitCode: 5 } }, 'launched just before the crash: re-attached or started over, it ran to its exit code');
  }

  await sleep(500); // the last terminal updates reach the second watcher
  const updates = [...seenBefore, ...watch2.updates].filter((u) => all.includes(u.taskId ?? ''));
  const sequences = updates.map((u) => Number(u.sequence));
  t.equal(new Set(sequences).size, sequences.length, 'no update was streamed twice across the restart');
  for (const id of all) {
    const terminals = updates.filter((u) => u.taskId === id && TERMINAL.test(u.state ?? ''));
    t.equal(terminals.length, 1, `${id}: its terminal update was streamed exactly once`);
  }
  t.ok(Math.min(...watch2.updates.map((u) => Number(u.sequence))) > lastSeen, 'numbering continued after the restart');

  // The stray container ignores SIGTERM (sleep as PID 1): it goes after the stop grace period.
  await eventually('the stray container is removed', async () => (await containersWithLabel(h, 'titus.executor.id', executorId)).length === 0, 30_000).catch(
    () => undefined,
  );
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId), [], 'no container left (the stray one included)');
  t.equal((await h.docker(['ps', '-aq', '--filter', `id=${ghost.stdout.trim()}`])).stdout.trim(), '', 'the stray container was removed');
  const files = readdirSync(join(stateDir, 'tasks')).sort();
  t.same(files, all.map((id) => `${id}.json`).sort(), 'one record per task, no temporary or orphaned file');
  t.same(await settledCensus({ h, executorId, client: c2, stateDir }), [], 'nothing left that no live task owns');
  watch1.cancel();
  c2.close();
});
