/**
 * dockerd restarts under running tasks (the harness engine, SIGTERMed as an
 * operator's `systemctl restart docker` would, kept down for a few seconds,
 * started again on the same data root). The executor keeps serving gRPC,
 * refuses launches fast while the engine is away, reconnects, and reports
 * what the engine reports for the tasks it had.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';

const eventually = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

t.test('the executor survives a dockerd restart, refuses launches meanwhile, and reports the engine\'s exit codes', async (t) => {
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h);
  const image = h.images.busyboxRepo;
  const sleeper = uniqueTaskId('er-sleep');
  const trapper = uniqueTaskId('er-trap');
  await ex.launch({ taskId: sleeper, containerInfo: { fullyQualifiedImage: image, process: { command: ['sleep', '300'] } } });
  await ex.launch({
    taskId: trapper,
    containerInfo: { fullyQualifiedImage: image, process: { command: ['sh', '-c', 'trap "exit 42" TERM; while true; do sleep 0.1; done'] } },
  });
  await ex.waitForState(sleeper, 'TASK_STATE_RUNNING');
  await ex.waitForState(trapper, 'TASK_STATE_RUNNING');

  const restart = h.restartEngine(3000);
  await eventually('the executor notices the engine is gone', () => !ex.executor.engine.isUp());
  const started = Date.now();
  await t.rejects(
    ex.launch({ taskId: uniqueTaskId('er-refused'), containerInfo: { fullyQualifiedImage: image } }),
    { code: grpc.status.UNAVAILABLE, details: /container engine is unreachable/ },
    'a launch during the outage is refused',
  );
  t.ok(Date.now() - started < 1000, `refused fast (${Date.now() - started} ms), not hung`);
  t.ok(await ex.get(sleeper), 'GetTask still answers during the outage');
  await restart;
  await eventually('the executor is reconnected', () => ex.executor.engine.isUp());

  // dockerd stopped both containers on its way down: SIGTERM (through the
  // container's init) ends `sleep` by signal (128+15) and the trap with 42.
  const sleeperEnd = (await ex.waitForState(sleeper, 'terminal')).at(-1);
  const trapperEnd = (await ex.waitForState(trapper, 'terminal')).at(-1);
  t.equal(trapperEnd?.state, 'TASK_STATE_FAILED');
  t.equal(trapperEnd?.exit?.exitCode, 42, 'the trap\'s own exit code');
  t.equal(sleeperEnd?.state, 'TASK_STATE_FAILED');
  t.equal(sleeperEnd?.exit?.exitCode, 143, 'killed by SIGTERM, as the engine reports');
  for (const id of [sleeper, trapper]) {
    const terminal = (await ex.get(id)).history.filter((u) => /FINISHED|FAILED|KILLED|LOST/.test(u.state ?? ''));
    t.equal(terminal.length, 1, `${id}: exactly one terminal update`);
  }

  const after = uniqueTaskId('er-after');
  const end = (await ex.run({ taskId: after, containerInfo: { fullyQualifiedImage: image, process: { command: ['true'] } } })).at(-1);
  t.equal(end?.state, 'TASK_STATE_FINISHED', 'launches work again after the engine is back');
  await eventually('no container of the executor is left', async () => (await containersWithLabel(h, 'titus.executor.id', ex.config.executorId)).length === 0);
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, stateDir: ex.config.stateDir }), [], 'nothing left that no live task owns');
});
