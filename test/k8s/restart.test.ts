/**
 * Pods survive an executor crash: a real `titus-executor serve` child process
 * with the interLink plugin API is SIGKILLed and started again on the same
 * state directory. Ended containers keep their exit codes and times, running
 * ones are found again (and their end seen, even when it came while the
 * executor was down), a pod caught in its init containers carries on, and
 * /delete still removes everything.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { settledCensus } from '../helpers/census.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import type { PodStatusAnswer } from '../../src/k8s/pod-supervisor.js';
import { call } from './interlink-client.js';
import { allTerminated, byName, createBody, shellPod, type SimplePod } from './pod-suite.js';

t.test('after a crash and restart, pods answer the same and carry on', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-k8s-rs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t);
  const executorId = `k8s-restart-${h.runId}`;
  const stateDir = join(dir, 'state');
  const socket = join(dir, 'il.sock');
  const serve = serveProcesses(t, dir, { executorId, stateDir, docker: { host: h.dockerHost }, interlink: { enabled: true, socketPath: socket, restartBackoff: { initialSeconds: 0.2, maxSeconds: 0.4 } } });
  const status = async (pod: SimplePod): Promise<PodStatusAnswer> => {
    const r = await call(socket, 'GET', '/status', [pod]);
    if (r.status !== 200) throw new Error(`/status: ${r.status} ${r.text}`);
    return r.json<PodStatusAnswer[]>()[0] as PodStatusAnswer;
  };
  const waitFor = async (pod: SimplePod, done: (s: PodStatusAnswer) => boolean, what: string): Promise<PodStatusAnswer> => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 150))) {
      const s = await status(pod).catch(() => undefined);
      if (s !== undefined && done(s)) return s;
    }
    throw new Error(`${pod.metadata.name}: not ${what} within 60 s`);
  };
  const gate = (pod: SimplePod, file: string): void => writeFileSync(join(stateDir, 'k8s', 'pods', pod.metadata.uid, 'volumes', 'shared', file), '');
  const image = h.images.busybox;

  const first = await serve.start();
  const mixed = shellPod(
    'mixed',
    image,
    { ended: 'echo bye; exit 5', waiting: 'echo hi; until [ -e /shared/go ]; do sleep 0.1; done; echo after' },
    { init: 'echo init-done' },
  );
  const initStuck = shellPod('init-stuck', image, { main: 'echo main-ran' }, { init: 'until [ -e /shared/go-init ]; do sleep 0.1; done' });
  // Fails until the gate is opened; restarted meanwhile (OnFailure).
  const restarting = shellPod('restarting', image, { retry: 'echo try; [ -e /shared/ok ] || exit 3' }, {}, { restartPolicy: 'OnFailure' });
  for (const pod of [mixed, initStuck, restarting]) t.equal((await call(socket, 'POST', '/create', createBody(pod))).status, 200);
  const before = await waitFor(
    mixed,
    (s) => byName(s.containers, 'ended').state.terminated !== undefined && byName(s.containers, 'waiting').state.running !== undefined,
    'one ended, one running',
  );
  await waitFor(initStuck, (s) => byName(s.initContainers, 'init').state.running !== undefined, 'in its init container');

  const restartsBefore = byName((await waitFor(restarting, (s) => byName(s.containers, 'retry').restartCount >= 2, 'restarted twice')).containers, 'retry').restartCount;
  const sharedBefore = await containersWithLabel(h, 'titus.executor.role', 'shared-sandbox');
  t.equal(sharedBefore.length, 3, "each pod's containers share one network");

  await first.crash();
  gate(mixed, 'go'); // the running container ends while the executor is down
  // A shared network left by a pod this executor no longer has (deleted from its state by hand, say).
  const stale = `titus-shared-gone-${h.runId}`;
  await h.docker(['run', '-d', '--name', stale, '--label', `titus.executor.id=${executorId}`, '--label', 'titus.executor.role=shared-sandbox', '--label', `titus.executor.shared_network=gone-${h.runId}`, image, 'sleep', '600']);
  const second = await serve.start();
  const staleExists = async (): Promise<boolean> => (await h.docker(['inspect', stale], { allowFailure: true })).code === 0;
  for (let i = 0; i < 100 && (await staleExists()); i++) await new Promise((r) => setTimeout(r, 100));
  t.notOk(await staleExists(), 'the stale shared network is removed at start');
  const sharedAfter = await containersWithLabel(h, 'titus.executor.role', 'shared-sandbox');

  const after = await waitFor(mixed, allTerminated, 'all terminated after the restart');
  t.same(byName(after.initContainers, 'init').state, byName(before.initContainers, 'init').state, 'the init container reads as before');
  t.same(byName(after.containers, 'ended').state, byName(before.containers, 'ended').state, 'the ended container keeps its exit code and times');
  const waiting = byName(after.containers, 'waiting').state.terminated;
  t.match(waiting, { exitCode: 0, reason: 'Completed', containerID: byName(before.containers, 'waiting').containerID });
  t.equal(waiting?.startedAt, byName(before.containers, 'waiting').state.running?.startedAt, 'the same container, started when it was');
  const logs = await call(socket, 'GET', '/getLogs', { Namespace: 'default', PodUID: mixed.metadata.uid, PodName: 'mixed', ContainerName: 'waiting', Opts: {} });
  t.equal(logs.text, 'hi\nafter\n', 'its logs, including what it wrote while the executor was down');

  gate(initStuck, 'go-init');
  const resumed = await waitFor(initStuck, allTerminated, 'its containers ran after the restart');
  t.match(byName(resumed.containers, 'main').state.terminated, { exitCode: 0, reason: 'Completed' }, 'the pod sequence resumed');
  t.ok(sharedBefore.some((id) => sharedAfter.includes(id)), 'the shared network of a pod still running is kept across the restart');

  gate(restarting, 'ok');
  const succeeded = byName((await waitFor(restarting, allTerminated, 'succeeded after the restart')).containers, 'retry');
  t.match(succeeded.state.terminated, { exitCode: 0, reason: 'Completed' });
  t.ok(succeeded.restartCount > restartsBefore, `restarts counted on across the executor restart (${restartsBefore} before, ${succeeded.restartCount} in all)`);
  t.match(succeeded.lastState.terminated, { exitCode: 3 });

  for (const pod of [mixed, initStuck, restarting]) t.equal((await call(socket, 'POST', '/delete', pod)).status, 200);
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId), [], 'no container left behind');
  t.same(await settledCensus({ h, executorId, client: second.client, stateDir }), [], 'nothing left that no live task owns');
  second.client.close();
});
