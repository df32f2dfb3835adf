/**
 * Lifetime limits against the harness's real dockerd: a runtime limit (the
 * request field, or Titus' passthrough attribute) kills a task with reason
 * runtimeLimitExceeded; a task stuck in STARTING (its image pulled from a
 * loopback port that accepts and never answers, standing in for a registry
 * that hangs) fails with stuckInState.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { startTarpit } from '../helpers/tarpit.js';

t.test('runtime limits and stuck tasks', async (t) => {
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h, { tasks: { maxStartingSeconds: 2 }, container: { defaultKillWaitSeconds: 1 } });
  const image = h.images.busyboxRepo;

  t.test('the request field kills a task with runtimeLimitExceeded', async (t) => {
    const taskId = uniqueTaskId('limit');
    const started = Date.now();
    const updates = await ex.run({ taskId, containerInfo: { fullyQualifiedImage: image, process: { command: ['sleep', '300'] } }, runtimeLimitSeconds: 2 });
    const end = updates.at(-1);
    t.equal(end?.state, 'TASK_STATE_KILLED');
    t.equal(end?.reasonCode, 'runtimeLimitExceeded');
    t.match(end?.message, /exceeded its runtime limit of 2 s/);
    t.ok(updates.some((u) => u.state === 'TASK_STATE_KILL_INITIATED' && u.reasonCode === 'runtimeLimitExceeded'), 'the kill says why too');
    const elapsed = (Date.now() - started) / 1000;
    t.ok(elapsed >= 2 && elapsed < 15, `ended after the limit (${elapsed.toFixed(1)} s)`);
    t.equal((await ex.get(taskId)).runtimeLimitSeconds, 2, 'GetTask shows the limit');
  });

  t.test('the passthrough attribute sets the limit when the field does not', async (t) => {
    const taskId = uniqueTaskId('limit-attr');
    const updates = await ex.run({
      taskId,
      containerInfo: {
        fullyQualifiedImage: image,
        process: { command: ['sleep', '300'] },
        passthroughAttributes: { 'titusParameter.agent.runtimeLimitSeconds': '1' },
      },
    });
    t.match(updates.at(-1), { state: 'TASK_STATE_KILLED', reasonCode: 'runtimeLimitExceeded' });
  });

  t.test('a task that ends within its limit is not touched', async (t) => {
    const updates = await ex.run({ taskId: uniqueTaskId('limit-ok'), containerInfo: { fullyQualifiedImage: image, process: { command: ['true'] } }, runtimeLimitSeconds: 30 });
    t.match(updates.at(-1), { state: 'TASK_STATE_FINISHED', reasonCode: 'normal' });
  });

  t.test('a bad attribute value is refused, naming the field', async (t) => {
    await t.rejects(
      ex.launch({
        taskId: uniqueTaskId('limit-bad'),
        containerInfo: { fullyQualifiedImage: image, passthroughAttributes: { 'titusParameter.agent.runtimeLimitSeconds': 'soon' } },
      }),
      { code: grpc.status.INVALID_ARGUMENT, details: /passthroughAttributes\.titusParameter\.agent\.runtimeLimitSeconds/ },
    );
  });

  t.test('a task stuck in STARTING fails with stuckInState', async (t) => {
    const port = await startTarpit(t);
    const updates = await ex.run({ taskId: uniqueTaskId('stuck'), containerInfo: { fullyQualifiedImage: `127.0.0.1:${port}/hangs/app`, version: '1' } });
    const end = updates.at(-1);
    t.equal(end?.state, 'TASK_STATE_FAILED');
    t.equal(end?.reasonCode, 'stuckInState');
    t.match(end?.message, /stuck in STARTING for more than 2 s \(last: pulling image/);
  });

  t.test('nothing left that no live task owns', async (t) => {
    t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir: ex.config.stateDir }), []);
  });
});
