/**
 * Task records damaged on disk (a torn write, a flipped byte, garbage): the
 * executor still starts, reports each affected task LOST with a message
 * naming the file and what is wrong, keeps the other tasks, and removes the
 * container of a task whose record it could not trust. Real dockerd and
 * registry from the harness; the executor runs in this process and is
 * stopped without killing its tasks, as a crash would leave them.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';

t.test('a corrupt task record: that task is LOST with the reason, the rest are kept', async (t) => {
  const h = await useHarness(t);
  const stateDir = mkdtempSync(join(tmpdir(), 'titus-corrupt-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const executorId = `corrupt-${h.runId}`;
  const image = h.images.busyboxRepo;
  const first = await startTestExecutor(t, h, { stateDir, executorId });
  const ended = uniqueTaskId('ok-ended');
  const tornEnded = uniqueTaskId('torn-ended');
  const flippedRunning = uniqueTaskId('flip-running');
  const garbage = uniqueTaskId('garbage');
  const keptRunning = uniqueTaskId('ok-running');
  for (const id of [ended, tornEnded, garbage]) await first.run({ taskId: id, containerInfo: { fullyQualifiedImage: image, process: { command: ['true'] } } });
  for (const id of [flippedRunning, keptRunning]) {
    await first.launch({ taskId: id, containerInfo: { fullyQualifiedImage: image, process: { command: ['sleep', '300'] } } });
    await first.waitForState(id, 'TASK_STATE_RUNNING');
  }
  const flippedContainer = (await first.get(flippedRunning)).containerId ?? '';
  await first.executor.stop(); // the API goes away; the containers keep running

  const file = (id: string): string => join(stateDir, 'tasks', `${id}.json`);
  const torn = readFileSync(file(tornEnded));
  writeFileSync(file(tornEnded), torn.subarray(0, Math.floor(torn.length / 2)));
  const flipped = readFileSync(file(flippedRunning), 'utf8');
  writeFileSync(file(flippedRunning), flipped.replace('"sleep"', '"sleeq"'));
  writeFileSync(file(garbage), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x0a, 0x00, 0x01]));

  const second = await startTestExecutor(t, h, { stateDir, executorId });
  await second.executor.recovered;
  t.match(await second.get(ended), { state: 'TASK_STATE_FINISHED' }, 'an intact ended task is kept');
  t.match(await second.get(keptRunning), { state: 'TASK_STATE_RUNNING' }, 'an intact running task is re-attached');
  const expectations: Array<[string, RegExp]> = [
    [tornEnded, /torn write/],
    [flippedRunning, /checksum mismatch/],
    [garbage, /unrecognised header line/],
  ];
  for (const [id, why] of expectations) {
    const task = await second.get(id);
    t.equal(task.state, 'TASK_STATE_LOST', `${id}: LOST`);
    t.match(task.lastUpdate?.message, why, `${id}: the message says what is wrong`);
    t.match(task.lastUpdate?.message, /is unreadable .*kept as .*\.corrupt-/, `${id}: and where the file was kept`);
  }
  t.equal(
    (await h.docker(['ps', '-aq', '--filter', `id=${flippedContainer}`])).stdout.trim(),
    '',
    'the container of the task whose record could not be trusted was removed',
  );
  const quarantined = readdirSync(join(stateDir, 'tasks')).filter((f) => f.includes('.corrupt-'));
  t.equal(quarantined.length, 3, 'the three damaged files are kept aside for a person to look at');

  // A third start reads the LOST records as written, not the damaged files again.
  await second.executor.stop();
  const third = await startTestExecutor(t, h, { stateDir, executorId });
  await third.executor.recovered;
  for (const [id] of expectations) t.equal((await third.get(id)).state, 'TASK_STATE_LOST', `${id}: still LOST after another restart`);
  t.equal((await third.get(keptRunning)).state, 'TASK_STATE_RUNNING');
  await third.kill(keptRunning, 0);
  await third.waitForState(keptRunning, 'terminal');
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId), [], 'no container left');
  t.same(await settledCensus({ h, executorId, client: third.client, stateDir }), [], 'nothing left that no live task owns (the damaged files kept aside are on purpose)');
});
