/**
 * Delays from input past Node's 32-bit timer bound (2^31-1 ms, 24.8 days)
 * once fired at once (issue 19): a 30-day runtime limit killed its task the
 * moment it started, and a keep-alive period of 2,200,000 s sent about 900
 * keep-alives a second. Real executors on a harness engine: the limits hold,
 * by the request field, by the passthrough attribute, and from the config.
 */
import t from 'tap';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { MAX_KEEPALIVE_SECONDS, RUNTIME_LIMIT_ATTRIBUTE } from '../../src/api/validate.js';
import type { WatchTaskStatusRequest } from '../../src/proto/generated/titus/executor/v1/WatchTaskStatusRequest.js';
import type { TaskStatusEvent__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusEvent.js';

const THIRTY_DAYS = 30 * 86_400;
const WATCH_MS = 3000;

let h: Harness;
t.before(async () => {
  h = await useHarness(t);
});

/** Keep-alives a watch receives in `ms`. */
const keepAlivesWithin = (ex: TestExecutor, req: WatchTaskStatusRequest, ms: number): Promise<number> =>
  new Promise((resolve, reject) => {
    let count = 0;
    const stream: ClientReadableStream<TaskStatusEvent__Output> = ex.client.WatchTaskStatus(req);
    stream.on('data', (e: TaskStatusEvent__Output) => {
      if (e.keepAlive) count++;
    });
    stream.on('error', (err: { code?: number }) => {
      if (err.code !== 1) reject(err as Error);
    });
    setTimeout(() => {
      stream.cancel();
      resolve(count);
    }, ms);
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a 30-day runtime limit, by the field and by the attribute, does not kill the task', async (t) => {
  const ex = await startTestExecutor(t, h);
  const image = h.images.busyboxRepo;
  const byField = uniqueTaskId('limit-field');
  const byAttribute = uniqueTaskId('limit-attr');
  await ex.launch({ taskId: byField, containerInfo: { fullyQualifiedImage: image, process: { command: ['sleep', '300'] } }, runtimeLimitSeconds: THIRTY_DAYS });
  await ex.launch({
    taskId: byAttribute,
    containerInfo: { fullyQualifiedImage: image, process: { command: ['sleep', '300'] }, passthroughAttributes: { [RUNTIME_LIMIT_ATTRIBUTE]: String(THIRTY_DAYS) } },
  });
  for (const id of [byField, byAttribute]) await ex.waitForState(id, 'TASK_STATE_RUNNING');
  await sleep(WATCH_MS);
  for (const id of [byField, byAttribute]) {
    const task = await ex.get(id);
    t.equal(task.state, 'TASK_STATE_RUNNING', `${id}: still RUNNING ${WATCH_MS} ms later (${task.history.at(-1)?.message ?? ''})`);
    t.equal(task.runtimeLimitSeconds, THIRTY_DAYS, `${id}: the limit is reported`);
  }
  for (const id of [byField, byAttribute]) await ex.kill(id, 0);
  for (const id of [byField, byAttribute]) {
    const end = (await ex.waitForState(id, 'terminal')).at(-1);
    t.equal(end?.state, 'TASK_STATE_KILLED');
    t.equal(end?.reasonCode, 'killed', 'ended by the kill, not the limit');
  }
});

t.test('a watch at the longest keep-alive period sends no keep-alive within seconds', async (t) => {
  const ex = await startTestExecutor(t, h);
  t.equal(await keepAlivesWithin(ex, { keepaliveSeconds: MAX_KEEPALIVE_SECONDS }, WATCH_MS), 0, `keepalive_seconds ${MAX_KEEPALIVE_SECONDS}`);
  t.ok((await keepAlivesWithin(ex, { keepaliveSeconds: 1 }, 2500)) >= 1, 'a 1 s period still sends them');
});

t.test('config past the timer bound: keep-alive period and starting deadline of 2,200,000 s', async (t) => {
  const ex = await startTestExecutor(t, h, { watch: { keepAliveSeconds: 2_200_000 }, tasks: { maxStartingSeconds: 2_200_000 } });
  const watching = keepAlivesWithin(ex, {}, WATCH_MS);
  const updates = await ex.run({ taskId: uniqueTaskId('deadline'), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '1'] } } });
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', `not failed as stuck in STARTING: ${updates.at(-1)?.message ?? ''}`);
  t.equal(await watching, 0, 'the server default keep-alive period from the config is honoured');
});
