/**
 * restartPolicy on a real dockerd through the interLink plugin API: a
 * container that ends runs again, as a task of its own, after a crash-loop
 * back-off (shortened here to 0.4 s doubling); restartCount and lastState say
 * so, and the previous run's logs stay readable (`Previous`).
 */
import t from 'tap';
import { call } from './interlink-client.js';
import { allTerminated, byName, createBody, podSuite, shellPod } from './pod-suite.js';
import { podTaskId, runTaskId } from '../../src/k8s/pod-names.js';

const INITIAL_BACKOFF_S = 0.4;
const suite = podSuite(t, { restartBackoff: { initialSeconds: INITIAL_BACKOFF_S, maxSeconds: 5 } });
const test = suite.test;
const image = (): string => suite.h.images.busybox;

/** Counts its runs in the pod's emptyDir; fails until the `passAt`th. */
const countedRun = (name: string, passAt: number, then = ''): string =>
  `n=$(cat /shared/${name} 2>/dev/null || echo 0); n=$((n+1)); echo $n > /shared/${name}; echo run-$n; [ $n -ge ${passAt} ] || exit 3; ${then}`;

const logsOf = async (pod: { metadata: { uid: string; name: string } }, container: string, previous = false) =>
  call(suite.socket, 'GET', '/getLogs', {
    Namespace: 'default',
    PodUID: pod.metadata.uid,
    PodName: pod.metadata.name,
    ContainerName: container,
    Opts: previous ? { Previous: true } : {},
  });

test('OnFailure: a failing container runs again after a doubling back-off until it succeeds', async (t) => {
  const pod = shellPod('on-failure', image(), { flaky: countedRun('flaky', 3) }, {}, { restartPolicy: 'OnFailure' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const reasons = new Set<string>();
  const done = await suite.waitFor(
    pod,
    (s) => {
      const waiting = byName(s.containers, 'flaky').state.waiting;
      if (waiting !== undefined) reasons.add(waiting.reason);
      return byName(s.containers, 'flaky').state.terminated?.exitCode === 0;
    },
    'succeeded',
  );
  const flaky = byName(done.containers, 'flaky');
  t.equal(flaky.restartCount, 2);
  t.match(flaky.state.terminated, { exitCode: 0, reason: 'Completed' });
  t.match(flaky.lastState.terminated, { exitCode: 3, reason: 'Error' }, 'lastState is the previous run');
  t.ok(reasons.has('CrashLoopBackOff'), `waited in CrashLoopBackOff (seen: ${[...reasons].join(', ')})`);

  const runs = [0, 1, 2].map((n) => suite.ex.executor.tasks.get(runTaskId(podTaskId(pod.metadata.uid, 'flaky'), n)));
  t.same(
    runs.map((r) => [r.state, r.lastUpdate.exit?.exitCode]),
    [
      ['FAILED', 3],
      ['FAILED', 3],
      ['FINISHED', 0],
    ],
    'each run is a task of its own',
  );
  const gap = (a: number): number => (runs[a + 1]?.acceptedAtMs ?? 0) - (runs[a]?.finishedAtMs ?? 0);
  t.ok(gap(0) >= INITIAL_BACKOFF_S * 1000 - 50, `first back-off ${gap(0)} ms`);
  t.ok(gap(1) >= 2 * INITIAL_BACKOFF_S * 1000 - 50, `second back-off ${gap(1)} ms: doubled`);

  t.equal((await logsOf(pod, 'flaky')).text, 'run-3\n', 'logs: the current run');
  t.equal((await logsOf(pod, 'flaky', true)).text, 'run-2\n', 'Previous: the run before it');
  t.equal((await suite.del(pod)).status, 200);
});

test('Always: a container that exits 0 runs again; delete stops it for good', async (t) => {
  const pod = shellPod('always', image(), { loop: countedRun('loop', 1, '[ $n -ge 2 ] && sleep 60; exit 0') }, {}, { restartPolicy: 'Always' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const running = await suite.waitFor(pod, (s) => byName(s.containers, 'loop').restartCount === 1 && byName(s.containers, 'loop').state.running !== undefined, 'running again');
  t.match(byName(running.containers, 'loop').lastState.terminated, { exitCode: 0, reason: 'Completed' });
  t.equal((await logsOf(pod, 'loop', true)).text, 'run-1\n');
  t.equal((await suite.del(pod, 1)).status, 200);
  t.equal(suite.ex.executor.tasks.get(runTaskId(podTaskId(pod.metadata.uid, 'loop'), 1)).state, 'KILLED', 'the second run was killed by the delete');
  t.throws(() => suite.ex.executor.tasks.get(runTaskId(podTaskId(pod.metadata.uid, 'loop'), 2)), 'and never run again');
});

test('an init container that fails is run again (OnFailure), then the containers start', async (t) => {
  const pod = shellPod('init-retry', image(), { main: 'echo main-ran' }, { setup: countedRun('setup', 2) }, { restartPolicy: 'OnFailure' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated');
  t.match(byName(done.initContainers, 'setup'), { restartCount: 1, state: { terminated: { exitCode: 0 } }, lastState: { terminated: { exitCode: 3 } } });
  t.match(byName(done.containers, 'main'), { restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
  t.equal((await suite.del(pod)).status, 200);
});

test('Never: nothing runs again, and Previous logs do not exist', async (t) => {
  const pod = shellPod('never', image(), { once: 'exit 4' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'terminated');
  t.match(byName(done.containers, 'once'), { restartCount: 0, lastState: {}, state: { terminated: { exitCode: 4 } } });
  const previous = await logsOf(pod, 'once', true);
  t.equal(previous.status, 400);
  t.match(previous.text, /previous terminated container "once" in pod "never" not found/);
  t.equal((await suite.del(pod)).status, 200);
});

test('an unknown restartPolicy is refused, naming the field', async (t) => {
  const pod = shellPod('bad-policy', image(), { x: 'true' }, {}, { restartPolicy: 'Sometimes' });
  const r = await suite.create(createBody(pod));
  t.equal(r.status, 400);
  t.match(r.text, /pod\.spec\.restartPolicy.*Always, OnFailure, Never/);
});
