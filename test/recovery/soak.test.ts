/**
 * A soak of 300 short tasks in sequence through gRPC against the harness's
 * real dockerd: the executor's heap (after a full GC) and its open file
 * descriptors must come back to where they were after a warm-up. Both are
 * printed. The executor runs in this process so the test can force a GC.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const TASKS = Number(process.env['TITUS_SOAK_TASKS'] ?? 300);
const WARM_UP = 30;

const measure = async (): Promise<{ heapMb: number; rssMb: number; fds: number }> => {
  await new Promise((r) => setTimeout(r, 200)); // sockets of the last task close
  gc();
  gc();
  const m = process.memoryUsage();
  return { heapMb: m.heapUsed / 2 ** 20, rssMb: m.rss / 2 ** 20, fds: readdirSync('/proc/self/fd').length };
};

t.test(`${TASKS} short tasks in sequence: memory and descriptors return to their starting level`, async (t) => {
  const h = await useHarness(t);
  // Retention small enough that the soak goes past it: ended tasks are dropped, as in production.
  const ex = await startTestExecutor(t, h, { tasks: { retainEnded: 20 } });
  const info = { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', 'echo soak'] } };
  const runOne = async (): Promise<string> => (await ex.run({ taskId: uniqueTaskId('soak'), containerInfo: info })).at(-1)?.state ?? '';
  for (let i = 0; i < WARM_UP; i++) await runOne();
  const before = await measure();
  const started = Date.now();
  let finished = 0;
  for (let i = 0; i < TASKS; i++) if ((await runOne()) === 'TASK_STATE_FINISHED') finished += 1;
  const seconds = (Date.now() - started) / 1000;
  const after = await measure();
  const line = (m: typeof before): string => `heap ${m.heapMb.toFixed(1)} MiB, rss ${m.rssMb.toFixed(1)} MiB, ${m.fds} fds`;
  t.comment(`soak: ${TASKS} tasks in ${seconds.toFixed(1)} s; before: ${line(before)}; after: ${line(after)}`);
  t.equal(finished, TASKS, 'every task FINISHED');
  t.ok(after.fds <= before.fds + 3, `open descriptors back to the starting level (${before.fds} -> ${after.fds})`);
  t.ok(after.heapMb <= before.heapMb + 8, `heap back to the starting level (${before.heapMb.toFixed(1)} -> ${after.heapMb.toFixed(1)} MiB)`);
  t.ok(ex.executor.tasks.list({ includeTerminal: true, states: [] }).length <= 20, 'ended tasks beyond retention were dropped');
  t.ok(readdirSync(join(ex.config.stateDir, 'tasks')).length <= 20, 'and so were their records on disk');
  t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container left');
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir: ex.config.stateDir }), [], 'nothing left that no live task owns');
});
