/**
 * The engine's `die` event, as DockerRuntime passes it on (onContainerExited),
 * against a real dockerd from the harness: it comes before the wait answers,
 * and by then the container's output is all in the engine's log, which is
 * what lets the task runner read it from there on (task-runner.ts untilExit).
 */
import t from 'tap';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';
import { useHarness } from '../harness/index.js';

/** Under containerOutput's 1000-line tail, so every line must come back. */
const LINES = 800;

t.test('die: the output is complete when it comes, and before the wait answers', async (t) => {
  const h = await useHarness(t);
  const runtime = new DockerRuntime(h.dockerHost);
  const closeEvents = await runtime.watchEvents(() => undefined);
  t.teardown(closeEvents);
  const script = `sleep 1; i=0; while [ $i -lt ${LINES} ]; do echo "line $i"; i=$((i+1)); done; exit 3`;
  const id = (await h.docker(['create', '--network', 'none', h.images.busyboxRepo, 'sh', '-c', script])).stdout.trim();
  t.teardown(() => h.docker(['rm', '-f', id], { allowFailure: true }));
  const order: string[] = [];
  let outputAtDie: Promise<string> | undefined;
  const died = new Promise<void>((resolve) => {
    const unsubscribe = runtime.onContainerExited(id, () => {
      order.push('die');
      outputAtDie = runtime.containerOutput(id, 1 << 20);
      unsubscribe();
      resolve();
    });
  });
  // As the task runner does: the wait is asked once the container is started (a wait on a
  // container not yet started answers at once).
  await h.docker(['start', id]);
  const wait = runtime.waitContainer(id, undefined, () => true).then((exit) => {
    order.push('wait answered');
    return exit;
  });
  await died;
  const exit = await wait;
  t.same(order, ['die', 'wait answered'], 'the die comes first');
  const lines = (await outputAtDie)?.trim().split('\n') ?? [];
  t.equal(lines.length, LINES, `every line could be read at the die (${lines.length}: ${lines[0]} … ${lines.at(-1)})`);
  t.equal(lines.at(-1), `line ${LINES - 1}`);
  t.same(exit, { exitCode: 3, oomKilled: false }, 'the exit code, from the wait alone');
});
