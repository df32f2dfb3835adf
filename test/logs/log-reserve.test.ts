/**
 * One task floods its output onto a small state directory (a 2 MiB tmpfs of
 * the test's own) while others keep launching: the copy of its output stops
 * at the reserve (logs.reserveMb) with a marker line and a metric, every other
 * launch is accepted and ends FINISHED, and after a restart on the same state
 * directory the flooding task is still FINISHED, not LOST. With `logs.dir`,
 * the logs go there and nothing of them into the state directory.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { cannotMount, freeBytesOf, smallTmpfs } from '../helpers/small-fs.js';
import { parseExposition, valueOf } from '../metrics/exposition.js';

const RESERVE_MB = 0.5;
const KiB = 1024;
/** About 3.5 MB of output in 64-byte lines, then a last line the reserve must keep out. */
const FLOOD = ['sh', '-c', 'i=0; while [ $i -lt 55000 ]; do echo "line $i 0123456789012345678901234567890123456789012345678"; i=$((i+1)); done; echo LAST'];

const endState = async (ex: TestExecutor, taskId: string): Promise<string> => (await ex.waitForState(taskId, 'terminal', 180_000)).at(-1)?.state ?? '';

t.test('a task flooding its output onto a small state directory stops at the reserve; others keep launching', { skip: cannotMount() }, async (t) => {
  const h = await useHarness(t);
  const stateDir = smallTmpfs(t, 2048);
  const overrides = { stateDir, executorId: `reserve-${h.runId}`, logs: { reserveMb: RESERVE_MB, maxFileBytes: 8 * 1024 * 1024, maxFiles: 2 } };
  const ex = await startTestExecutor(t, h, overrides);
  const image = h.images.busyboxRepo;
  const flood = uniqueTaskId('flood');
  await ex.launch({ taskId: flood, containerInfo: { fullyQualifiedImage: image, process: { command: FLOOD } } });
  const others: string[] = [];
  // Launched while the flood goes on, one after the other: each must be accepted.
  while (others.length < 6) {
    const id = uniqueTaskId('other');
    await ex.launch({ taskId: id, containerInfo: { fullyQualifiedImage: image, process: { command: ['sh', '-c', 'echo hello'] } } });
    others.push(id);
    await new Promise((r) => setTimeout(r, 500));
  }
  t.equal(await endState(ex, flood), 'TASK_STATE_FINISHED', 'the flooding task ends FINISHED');
  for (const id of others) t.equal(await endState(ex, id), 'TASK_STATE_FINISHED', `${id}: launched during the flood and FINISHED`);
  const after = uniqueTaskId('after');
  await ex.launch({ taskId: after, containerInfo: { fullyQualifiedImage: image, process: { command: ['true'] } } });
  t.equal(await endState(ex, after), 'TASK_STATE_FINISHED', 'and after it');

  const log = readFileSync(join(stateDir, 'logs', flood, 'output.log'), 'utf8');
  t.match(log, /\[titus-executor\] output not stored from here: the logs filesystem is down to its 0\.5 MiB reserve/, 'a marker line says where the copy stopped');
  t.notMatch(log, / o LAST$/m, 'the output past the reserve was not stored');
  t.ok(freeBytesOf(stateDir) >= (RESERVE_MB * 1024 * KiB) / 2, `the state directory kept its records' share of the reserve (${Math.round(freeBytesOf(stateDir) / KiB)} KiB free)`);
  const samples = parseExposition(await ex.executor.metrics.exposition());
  t.ok((valueOf(samples, 'titus_executor_task_log_pauses_total') ?? 0) >= 1, 'the pause is counted');
  t.ok((valueOf(samples, 'titus_executor_task_log_dropped_lines_total') ?? 0) > 0, 'so are the dropped lines');
  t.equal(valueOf(samples, 'titus_executor_state_write_failures_total'), 0, 'no task record write failed');

  await ex.executor.stop();
  const again = await startTestExecutor(t, h, overrides);
  await again.executor.recovered;
  t.equal((await again.get(flood)).state, 'TASK_STATE_FINISHED', 'after a restart the flooding task is still FINISHED, not LOST');
  for (const id of others) t.equal((await again.get(id)).state, 'TASK_STATE_FINISHED');
});

t.test('logs.dir keeps task logs out of the state directory', { skip: cannotMount() }, async (t) => {
  const h = await useHarness(t);
  const stateDir = smallTmpfs(t, 1024);
  const logsDir = mkdtempSync(join(tmpdir(), 'titus-logs-dir-'));
  t.teardown(() => rmSync(logsDir, { recursive: true, force: true }));
  const ex = await startTestExecutor(t, h, { stateDir, executorId: `logsdir-${h.runId}`, logs: { dir: logsDir, reserveMb: 0.25 } });
  const taskId = uniqueTaskId('logsdir');
  const command = ['sh', '-c', 'i=0; while [ $i -lt 30000 ]; do echo "line $i 0123456789012345678901234567890123456789"; i=$((i+1)); done; echo LAST'];
  await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command } } });
  t.equal(await endState(ex, taskId), 'TASK_STATE_FINISHED');
  t.match(readFileSync(join(logsDir, taskId, 'output.log'), 'utf8'), / o LAST$/m, 'all 1.7 MB of output kept in logs.dir, more than the state directory could hold');
  t.notOk(existsSync(join(stateDir, 'logs', taskId)), 'nothing of it in the state directory');
  t.same(readdirSync(join(stateDir, 'tasks')), [`${taskId}.json`]);
});
