/**
 * A burst against a real dockerd: many launches at once, as a control plane
 * sends them, all reach RUNNING; every update each watcher sees was in the
 * store when it was streamed, in sequence order, once; then all are killed at
 * once, and each killed task's last line (printed on SIGTERM) is in its logs,
 * its record says KILLED, and nothing is left behind (census). The bench's
 * 110-at-once row measures the speed; this checks the behaviour under the
 * group commit (src/task/group-commit.ts) at a size a test run can afford.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { settledCensus } from '../helpers/census.js';
import { eventually } from '../helpers/watch.js';
import { TaskStore } from '../../src/task/task-store.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';

const BURST = 40;
const TERMINAL = /FINISHED|FAILED|KILLED|LOST/;

t.test(`${BURST} launches at once all reach RUNNING, stream in order from the store, and end cleanly when killed at once`, async (t) => {
  t.setTimeout(240_000);
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h);
  const stateDir = ex.config.stateDir;
  const streamed: TaskStatusUpdate__Output[] = [];
  const notStored: string[] = [];
  const readStore = new TaskStore(stateDir);
  const watch = ex.client.WatchTaskStatus({ taskIds: [], afterSequence: '0', sendSnapshot: false });
  watch.on('data', (e: { update?: TaskStatusUpdate__Output }) => {
    const u = e.update;
    if (u?.taskId === undefined) return;
    streamed.push(u);
    // Every update a watcher gets is already in the task's record.
    const record = readStore.load().records.find((r) => r.launch.taskId === u.taskId);
    if (!record?.history.some((s) => String(s.sequence) === String(u.sequence))) notStored.push(`${u.taskId} ${u.sequence} ${u.state}`);
  });
  watch.on('error', () => undefined);
  t.teardown(() => watch.cancel());

  const ids = Array.from({ length: BURST }, () => uniqueTaskId('burst'));
  const command = ['sh', '-c', 'trap "echo last-line-$T; exit 0" TERM; echo first-line; while true; do sleep 0.2; done'];
  await Promise.all(
    ids.map((taskId) =>
      ex.launch({
        taskId,
        containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command }, userProvidedEnv: { T: taskId } },
        resources: { cpu: 0.1, memoryMb: 32, diskMb: 64, networkMbps: 0 },
      }),
    ),
  );
  await Promise.all(ids.map((id) => ex.waitForState(id, 'TASK_STATE_RUNNING', 180_000)));
  t.pass(`all ${BURST} RUNNING`);

  await Promise.all(ids.map((id) => ex.kill(id, 10)));
  const ends = await Promise.all(ids.map((id) => ex.waitForState(id, 'terminal', 120_000)));
  t.ok(
    ends.every((u) => u.at(-1)?.state === 'TASK_STATE_KILLED'),
    'every task ended KILLED',
  );
  // The watch stream's last messages: this watcher reads the whole store for each update, so it may lag behind.
  const endedOnStream = (): boolean => ids.every((id) => streamed.some((u) => u.taskId === id && TERMINAL.test(u.state ?? '')));
  await eventually('the watch stream delivered every terminal update', endedOnStream, 60_000).catch(() => undefined);
  await sleep(200); // and anything (wrongly) after them
  t.same(notStored, [], 'every streamed update was in the store when it was streamed');
  const sequences = streamed.map((u) => Number(u.sequence));
  t.same(sequences, [...sequences].sort((a, b) => a - b), 'updates stream in sequence order');
  t.equal(new Set(sequences).size, sequences.length, 'no sequence number twice');
  for (const id of ids) {
    const mine = streamed.filter((u) => u.taskId === id).map((u) => u.state ?? '');
    const terminal = mine.filter((s) => TERMINAL.test(s));
    if (terminal.length !== 1 || !mine.includes('TASK_STATE_RUNNING')) t.fail(`${id}: ${mine.join(',')}`);
  }
  t.pass('each task streamed RUNNING and exactly one terminal update');

  const records = new TaskStore(stateDir).load().records.filter((r) => ids.includes(r.launch.taskId));
  t.equal(records.length, BURST, 'every task has its record');
  t.ok(records.every((r) => r.history.at(-1)?.state === 'KILLED' && r.exit !== undefined), 'each record ends KILLED, with the exit');

  for (const id of ids) {
    const lines: string[] = [];
    for await (const batch of ex.executor.logs.read(id, { follow: false, signal: new AbortController().signal })) lines.push(...batch.map((l) => l.text));
    if (!lines.includes('first-line') || lines.at(-1) !== `last-line-${id}`) t.fail(`${id}: logs ${JSON.stringify(lines)}`);
  }
  t.pass("each killed task's first and last lines (the one printed on SIGTERM) are in its logs");

  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir }), [], 'nothing left that no live task owns');
});
