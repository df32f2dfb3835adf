/**
 * Pod fields the interLink plugin honours, checked from inside real
 * containers on a real dockerd: readOnlyRootFilesystem (writing / fails, the
 * pod's volumes, /dev/shm and /run stay writable) and activeDeadlineSeconds
 * (the pod is stopped at its deadline and its containers read
 * DeadlineExceeded; a pod that ended before its deadline keeps its statuses).
 */
import t from 'tap';
import { allTerminated, byName, createBody, podSuite, shellPod, type SimplePod } from './pod-suite.js';
import { DEADLINE_REASON } from '../../src/k8s/pod-deadline.js';
import { podTaskId } from '../../src/k8s/pod-names.js';

const suite = podSuite(t);
const test = suite.test;
const image = (): string => suite.h.images.busybox;

/** Prints what writing `path` said, so a failure says why. */
const write = (path: string): string => `if out=$(touch ${path} 2>&1); then echo "wrote ${path}"; else echo "$out"; fi`;

test('readOnlyRootFilesystem: / is read-only inside, the mounts stay writable; without it / is writable', async (t) => {
  const pod = shellPod('read-only-root', image(), {
    locked: [write('/probe'), write('/shared/locked'), write('/dev/shm/probe'), write('/run/probe')].join('; '),
    open: write('/probe'),
  });
  const locked = pod.spec.containers[0] as unknown as Record<string, unknown>;
  locked['securityContext'] = { readOnlyRootFilesystem: true };
  t.equal((await suite.create(createBody(pod))).status, 200);
  await suite.waitFor(pod, allTerminated, 'all terminated');
  const out = async (container: string): Promise<string> => {
    return (await suite.ex.get(podTaskId(pod.metadata.uid, container))).outputTail ?? '';
  };
  const lockedOut = await out('locked');
  t.match(lockedOut, /\/probe: Read-only file system/, 'writing / fails: the root filesystem is read-only');
  t.match(lockedOut, /wrote \/shared\/locked/, 'the emptyDir mount is writable');
  t.match(lockedOut, /wrote \/dev\/shm\/probe/, '/dev/shm is writable');
  t.match(lockedOut, /wrote \/run\/probe/, '/run is writable');
  t.match(await out('open'), /wrote \/probe/, 'without readOnlyRootFilesystem, / is writable (the check can fail)');
  t.equal((await suite.del(pod)).status, 200);
});

test('activeDeadlineSeconds: at the deadline the pod is stopped and its containers read DeadlineExceeded', async (t) => {
  const base = shellPod('deadline', image(), { quick: 'true', sleeper: 'sleep 120' }, {}, { graceSeconds: 1 });
  // 'quick' must end before the deadline, also on a loaded CI machine.
  const pod = { ...base, spec: { ...base.spec, activeDeadlineSeconds: 5 } } as SimplePod;
  const createdAt = Date.now();
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated', 60_000);
  const endedAfterMs = Date.now() - createdAt;
  const sleeper = byName(done.containers, 'sleeper').state.terminated;
  t.equal(sleeper?.reason, DEADLINE_REASON, 'the running container was stopped by the deadline');
  t.not(sleeper?.exitCode, 0, 'with a non-zero exit code, so the pod reads Failed');
  t.match(sleeper?.message ?? '', /longer than the specified deadline/);
  t.ok(endedAfterMs >= 5000, `not before the deadline (${endedAfterMs} ms)`);
  t.ok(endedAfterMs < 60_000, 'long before the container would have ended on its own');
  t.equal(byName(done.containers, 'quick').state.terminated?.reason, 'Completed', 'a container that ended before the deadline keeps its own status');
  t.equal((await suite.del(pod)).status, 200);
});

test('activeDeadlineSeconds: a pod that ended before its deadline is left as it ended', async (t) => {
  // Long enough that the pod ends well before it even on a loaded CI machine (a 2 s
  // deadline once ran out while the container was still being started there).
  const deadlineSeconds = 6;
  const base = shellPod('deadline-after-end', image(), { only: 'true' });
  const pod = { ...base, spec: { ...base.spec, activeDeadlineSeconds: deadlineSeconds } } as SimplePod;
  const createdAt = Date.now();
  t.equal((await suite.create(createBody(pod))).status, 200);
  const ended = await suite.waitFor(pod, allTerminated, 'all terminated');
  const endedAfterMs = Date.now() - createdAt;
  t.ok(endedAfterMs < deadlineSeconds * 1000, `the premise: the pod ended before its deadline (after ${endedAfterMs} ms)`);
  t.equal(byName(ended.containers, 'only').state.terminated?.reason, 'Completed', 'Completed before the deadline');
  await new Promise((r) => setTimeout(r, deadlineSeconds * 1000 - endedAfterMs + 1000));
  const after = await suite.status(pod);
  t.equal(byName(after.containers, 'only').state.terminated?.reason, 'Completed', 'still Completed after the deadline passed');
  t.equal((await suite.del(pod)).status, 200);
});
