/**
 * Pods through the interLink plugin API on a real dockerd: init containers in
 * order, containers sharing an emptyDir, per-container exit codes, a failing
 * container or init container, OOMKilled, a launch the host refuses, and
 * deletes that honour the grace period.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './interlink-client.js';
import { allTerminated, byName, createBody, podSuite, shellPod } from './pod-suite.js';

const suite = podSuite(t);
const test = suite.test;
const image = (): string => suite.h.images.busybox;

test('an init container and two containers sharing an emptyDir run to completion, each with its exit code', async (t) => {
  const pod = shellPod(
    'shared-dir',
    image(),
    {
      writer: 'echo from-writer > /shared/writer.txt; until [ -e /shared/reader.txt ]; do sleep 0.1; done',
      reader: 'until [ -e /shared/writer.txt ]; do sleep 0.1; done; cat /shared/init.txt /shared/writer.txt > /shared/reader.txt',
    },
    { first: 'echo from-first > /shared/init.txt', second: 'grep -q from-first /shared/init.txt' },
  );
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated');
  t.same(
    [...done.initContainers, ...done.containers].map((c) => [c.name, c.state.terminated?.exitCode, c.state.terminated?.reason]),
    [
      ['first', 0, 'Completed'],
      ['second', 0, 'Completed'],
      ['writer', 0, 'Completed'],
      ['reader', 0, 'Completed'],
    ],
    'the second init container saw the first one’s file: they ran in order',
  );
  const first = byName(done.initContainers, 'first').state.terminated;
  const second = byName(done.initContainers, 'second').state.terminated;
  const writer = byName(done.containers, 'writer').state.terminated;
  t.ok(Date.parse(first?.finishedAt ?? '') <= Date.parse(second?.startedAt ?? ''), 'the second init container started after the first ended');
  t.ok(Date.parse(second?.finishedAt ?? '') <= Date.parse(writer?.startedAt ?? ''), 'containers started after the init containers ended');
  t.equal((await suite.del(pod)).status, 200);
});

const sharedSandboxes = async (): Promise<string[]> =>
  (await suite.h.docker(['ps', '-aq', '--filter', 'label=titus.executor.role=shared-sandbox'])).stdout.split('\n').filter(Boolean);

test("a pod's containers share localhost and the pod's hostname, as under a kubelet; the shared network goes with the pod", async (t) => {
  const pod = shellPod(
    'localhost-pod',
    image(),
    {
      server: [
        'echo hello-over-localhost > /tmp/index.html',
        'httpd -f -p 127.0.0.1:8080 -h /tmp & pid=$!',
        'n=0; until [ -e /shared/done ]; do n=$((n+1)); [ $n -ge 150 ] && break; sleep 0.1; done; kill $pid',
        'test "$(hostname)" = localhost-pod || exit 3',
      ].join('; '),
      client: [
        'n=0; until wget -q -O /shared/got http://127.0.0.1:8080/index.html; do n=$((n+1)); [ $n -ge 100 ] && exit 4; sleep 0.1; done',
        'touch /shared/done',
        'grep -q hello-over-localhost /shared/got || exit 5',
        'grep -q "127.0.1.1.*localhost-pod" /etc/hosts || exit 6',
      ].join('; '),
    },
    // An init container that has ended before the others start leaves the namespace in place.
    { setup: 'test "$(hostname)" = localhost-pod' },
  );
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated');
  t.same(
    [...done.initContainers, ...done.containers].map((c) => [c.name, c.state.terminated?.exitCode]),
    [
      ['setup', 0],
      ['server', 0],
      ['client', 0],
    ],
    'the client reached the server on 127.0.0.1 (exit 4: it never could); both saw the pod name as hostname',
  );
  let left = await sharedSandboxes();
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await sharedSandboxes();
  }
  t.same(left, [], 'the shared network is removed once the last container has ended');
  t.equal((await suite.del(pod)).status, 200);
});

test("a deleted pod's shared network is removed before /delete answers", async (t) => {
  const pod = shellPod('delete-shared', image(), { a: 'sleep 60', b: 'sleep 60' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  await suite.waitFor(pod, (s) => s.containers.every((c) => c.state.running !== undefined), 'both running');
  t.equal((await sharedSandboxes()).length, 1, 'one shared network for the two containers');
  t.equal((await suite.del(pod)).status, 200);
  t.same(await sharedSandboxes(), []);
});

test('workingDir is the process\'s working directory', async (t) => {
  const pod = shellPod('workdir', image(), { here: 'test "$(pwd)" = /shared || exit 9; touch relative.txt' });
  const [here] = pod.spec.containers;
  if (here !== undefined) here.workingDir = '/shared';
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated');
  t.match(byName(done.containers, 'here').state.terminated, { exitCode: 0, reason: 'Completed' }, 'pwd was /shared');
  t.equal((await suite.del(pod)).status, 200);
});

test('a failing container makes the pod Failed with its exit code; the other keeps its own', async (t) => {
  const pod = shellPod('one-fails', image(), { good: 'exit 0', bad: 'echo failing >&2; exit 7' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated');
  t.match(byName(done.containers, 'bad').state.terminated, { exitCode: 7, reason: 'Error', message: 'main container exited with code 7' });
  t.match(byName(done.containers, 'good').state.terminated, { exitCode: 0, reason: 'Completed' });
  t.equal((await suite.del(pod)).status, 200);
});

test('a failing init container ends the pod: later init containers and the containers never start', async (t) => {
  const pod = shellPod('init-fails', image(), { main: 'echo never' }, { broken: 'exit 2', after: 'echo never' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, (s) => byName(s.initContainers, 'broken').state.terminated !== undefined, 'init terminated');
  // Give a wrongly started container time to show up before looking.
  await new Promise((r) => setTimeout(r, 1000));
  const after = await suite.status(pod);
  t.match(byName(done.initContainers, 'broken').state.terminated, { exitCode: 2, reason: 'Error' });
  // interLink's virtual kubelet fails a pod only once every container reads terminated (test/k8s/interlink-replay.test.ts).
  t.match(byName(after.initContainers, 'after').state.terminated, { exitCode: 0, reason: 'InitContainerFailed' });
  t.match(byName(after.containers, 'main').state.terminated, { exitCode: 0, reason: 'InitContainerFailed' });
  const tasks = suite.ex.executor.tasks.list({ includeTerminal: true, states: [] }).filter((v) => v.labels['io.kubernetes.pod.uid'] === pod.metadata.uid);
  t.same(tasks.map((v) => v.labels['io.kubernetes.container.name']), ['broken'], 'only the failed init container ever ran');
  t.equal((await suite.del(pod)).status, 200);
});

test('a container over its memory limit is terminated with reason OOMKilled', async (t) => {
  // After a second, so the engine's own OOM report is in place (the kill of a process in its first
  // milliseconds, which the engine can miss, is test/runtime/lifecycle.test.ts's).
  const pod = shellPod('oom', image(), { hog: 'sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1' }, {}, { resources: { hog: { limits: { memory: '16Mi' } } } });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'terminated');
  t.match(byName(done.containers, 'hog').state.terminated, { reason: 'OOMKilled', message: /OOMKilled/ });
  t.equal((await suite.del(pod)).status, 200);
});

test('a container the host cannot admit (a GPU on a host without one) is terminated, not left waiting', async (t) => {
  const pod = shellPod('no-gpu', image(), { gpu: 'echo never' }, {}, { resources: { gpu: { limits: { 'nvidia.com/gpu': '1' } } } });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'terminated');
  const end = byName(done.containers, 'gpu').state.terminated;
  t.equal(end?.exitCode, 128);
  t.match(end?.reason, /^(UnexpectedAdmissionError|CreateContainerConfigError)$/);
  t.match(end?.message, /GPU/i);
  const logs = await call(suite.socket, 'GET', '/getLogs', { Namespace: 'default', PodUID: pod.metadata.uid, PodName: 'no-gpu', ContainerName: 'gpu', Opts: {} });
  t.equal(logs.status, 400);
  t.match(logs.text, /never started: .*GPU/i, 'its logs say why there are none');
  t.equal((await suite.del(pod)).status, 200);
});

test('/delete honours the grace period it is given: SIGTERM, then SIGKILL after it', async (t) => {
  // Ignores SIGTERM: only the SIGKILL at the end of the grace period stops it.
  const stubborn = shellPod('stubborn', image(), { main: "trap '' TERM; echo ready > /shared/ready; while :; do sleep 0.2; done" }, {}, { graceSeconds: 30 });
  // Exits on SIGTERM at once, whatever the grace period.
  const polite = shellPod('polite', image(), { main: "trap 'exit 0' TERM; echo ready > /shared/ready; while :; do sleep 0.2; done" }, {}, { graceSeconds: 30 });
  for (const pod of [stubborn, polite]) t.equal((await suite.create(createBody(pod))).status, 200);
  const ready = (uid: string): boolean => existsSync(join(suite.ex.config.stateDir, 'k8s', 'pods', uid, 'volumes', 'shared', 'ready'));
  for (const pod of [stubborn, polite]) {
    await suite.waitFor(pod, (s) => byName(s.containers, 'main').state.running !== undefined && ready(pod.metadata.uid), 'running and trapping');
  }

  const grace = 3;
  let started = Date.now();
  const killed = await suite.del(stubborn, grace); // deletionGracePeriodSeconds wins over the spec's 30
  const stubbornMs = Date.now() - started;
  t.equal(killed.status, 200, killed.text);
  t.ok(stubbornMs >= grace * 1000, `waited the grace period before SIGKILL (${stubbornMs} ms)`);
  t.ok(stubbornMs < (grace + 15) * 1000, `and not the spec's 30 s (${stubbornMs} ms)`);
  t.notOk(existsSync(join(suite.ex.config.stateDir, 'k8s', 'pods', stubborn.metadata.uid)), 'its files are gone when /delete answers');

  started = Date.now();
  const stopped = await suite.del(polite); // the spec's 30 s, but it exits on SIGTERM
  const politeMs = Date.now() - started;
  t.equal(stopped.status, 200);
  t.ok(politeMs < 10_000, `a container that exits on SIGTERM does not wait out the grace period (${politeMs} ms)`);
  t.equal((await suite.del(polite)).status, 200, 'a second delete of the same pod is fine');
});

test('a delete while init containers run stops the pod before its containers start', async (t) => {
  const pod = shellPod('delete-early', image(), { main: 'echo never' }, { wait: 'while :; do sleep 0.2; done' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  await suite.waitFor(pod, (s) => byName(s.initContainers, 'wait').state.running !== undefined, 'init running');
  t.equal((await suite.del(pod, 0)).status, 200);
  const tasks = suite.ex.executor.tasks.list({ includeTerminal: true, states: [] }).filter((v) => v.labels['io.kubernetes.pod.uid'] === pod.metadata.uid);
  t.same(tasks.map((v) => [v.labels['io.kubernetes.container.name'], v.state]), [['wait', 'KILLED']], 'the main container was never launched');
});

test('a container due to start while the host drains waits, saying why, and starts once it is undrained', async (t) => {
  const tasks = suite.ex.executor.tasks;
  t.teardown(() => void tasks.setDrain(false, ''));
  const pod = shellPod('drain-wait', image(), { main: 'echo ran' }, { init: 'until [ -e /shared/go-init ]; do sleep 0.1; done' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  await suite.waitFor(pod, (s) => byName(s.initContainers, 'init').state.running !== undefined, 'init running');
  tasks.setDrain(true, 'maintenance');
  suite.gate(pod.metadata.uid, 'shared', 'go-init');
  const waiting = await suite.waitFor(pod, (s) => byName(s.containers, 'main').state.waiting?.reason === 'ContainerCreating', 'main waiting');
  t.match(byName(waiting.containers, 'main').state.waiting?.message, /draining.*maintenance/);
  tasks.setDrain(false, '');
  const done = await suite.waitFor(pod, allTerminated, 'terminated after the drain');
  t.match(byName(done.containers, 'main').state.terminated, { exitCode: 0, reason: 'Completed' });
  t.equal((await suite.del(pod)).status, 200);
});
