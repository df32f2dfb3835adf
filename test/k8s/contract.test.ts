/**
 * The interLink plugin API as interLink calls it, with request bodies recorded
 * from interLink (fixtures/), against a real executor on a real dockerd: the
 * ping, create in both shapes, idempotence, status in every phase, logs with
 * and without follow, and the errors interLink may meet.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { silentLogger } from '../../src/common/log.js';
import { InterlinkServer } from '../../src/k8s/index.js';
import type { PingAnswer } from '../../src/k8s/node-status.js';
import type { PodStatusAnswer } from '../../src/k8s/pod-supervisor.js';
import { call, fixture, follow } from './interlink-client.js';
import { allTerminated, byName, createBody, podSuite, shellPod, type SimplePod } from './pod-suite.js';

const suite = podSuite(t);
const test = suite.test;
const image = (): string => suite.h.images.busybox;

/** The recorded status request, asking about the pod with this UID. */
const statusRef = (uid: string): SimplePod => {
  const [ref] = fixture<SimplePod[]>('status-pods.json', image(), uid);
  if (ref === undefined) throw new Error('status-pods.json holds one pod');
  return ref;
};

const logsOf = async (uid: string, container: string, opts: Record<string, unknown> = {}): Promise<{ status: number; text: string }> => {
  const body = fixture<{ Opts: Record<string, unknown> }>('getlogs.json', image(), uid);
  return call(suite.socket, 'GET', '/getLogs', { ...body, ContainerName: container, Opts: { ...body.Opts, ...opts } });
};

const deleteRecorded = (uid: string, graceSeconds = 30) => {
  const body = fixture<{ metadata: Record<string, unknown> }>('delete.json', image(), uid);
  return call(suite.socket, 'POST', '/delete', { ...body, metadata: { ...body.metadata, deletionGracePeriodSeconds: graceSeconds } });
};

test('the ping (GET /status with []) answers the node capacity, and a NoSchedule taint while draining', async (t) => {
  const recorded = readFileSync(new URL('./fixtures/status-ping.json', import.meta.url), 'utf8');
  const r = await call(suite.socket, 'GET', '/status', recorded);
  t.equal(r.status, 200, r.text);
  const ping = r.json<PingAnswer>();
  t.equal(ping.status, 'ok');
  t.match(ping.resources, { cpu: /^\d+m$/, memory: /^\d+Mi$/, pods: '110' });
  t.ok(Number.parseInt(ping.resources.cpu, 10) > 0, 'some CPU to offer');
  t.same(ping.resources.accelerators, [{ resourceType: 'nvidia.com/gpu', available: '0' }], 'no GPUs on this host');
  t.notOk('taints' in ping, 'no taint while the host takes work');

  const tasks = suite.ex.executor.tasks;
  tasks.setDrain(true, 'contract test');
  t.teardown(() => void tasks.setDrain(false, ''));
  const drained = (await call(suite.socket, 'GET', '/status', [])).json<PingAnswer>();
  t.same(drained.taints, [{ key: 'titus.executor/draining', value: 'true', effect: 'NoSchedule' }]);
  const refused = await suite.create(fixture('create-v0.5-object.json', image()));
  t.equal(refused.status, 503, 'a draining host refuses new pods');
  t.match(refused.text, /draining/);
  tasks.setDrain(false, '');
  t.same((await call(suite.socket, 'GET', '/status', [])).json<PingAnswer>().taints, [], 'the taint goes with the drain: an empty list clears it in the virtual kubelet');
});

test('create in the interLink >= 0.5 shape (one object) runs the recorded pod: volumes, env, init first', async (t) => {
  const body = fixture<{ pod: { metadata: { uid: string } } }>('create-v0.5-object.json', image());
  const uid = body.pod.metadata.uid;
  const r = await suite.create(body);
  t.equal(r.status, 200, r.text);
  t.same(r.json(), { PodUID: uid, PodJID: uid });
  const done = await suite.waitFor(statusRef(uid), allTerminated, 'all containers terminated');
  t.match(done, { name: 'interlink-contract', UID: uid, namespace: 'vk-test', JID: uid });
  t.same(
    [...done.initContainers, ...done.containers].map((c) => [c.name, c.state.terminated?.exitCode, c.state.terminated?.reason]),
    [
      ['prepare', 0, 'Completed'],
      ['main', 0, 'Completed'],
      ['sidecar', 0, 'Completed'],
    ],
  );
  const logs = await logsOf(uid, 'main');
  t.equal(logs.status, 200, logs.text);
  t.equal(
    logs.text,
    // The files have no trailing newline, so the echo follows the projected namespace on its line.
    'prepared-by-init\nhello-from-configmaps3cr3t-passvk-testhello-from-configmap|s3cr3t-pass|interlink-contract|vk-test|hello-from-configmap|ns=vk-test\n',
    'init output, ConfigMap, Secret and projected files, and env of every kind',
  );
  const shared = join(suite.ex.config.stateDir, 'k8s', 'pods', uid, 'volumes', 'shared');
  t.equal(readFileSync(join(shared, 'sidecar-saw.txt'), 'utf8'), 'prepared-by-init\n', 'the sidecar saw the emptyDir the init container wrote');
  const del = await deleteRecorded(uid);
  t.equal(del.status, 200, del.text);
  t.notOk(existsSync(join(suite.ex.config.stateDir, 'k8s', 'pods', uid)), 'the pod record and volumes are removed');
});

test('create in the interLink 0.4 shape (a one-element list) works the same', async (t) => {
  const body = fixture<Array<{ pod: SimplePod }>>('create-v0.4-array.json', image());
  const pod = body[0]?.pod;
  if (pod === undefined) throw new Error('create-v0.4-array.json holds one pod');
  const r = await suite.create(body);
  t.equal(r.status, 200, r.text);
  t.same(r.json(), { PodUID: pod.metadata.uid, PodJID: pod.metadata.uid });
  const done = await suite.waitFor(pod, allTerminated, 'terminated');
  t.equal(byName(done.containers, 'hello').state.terminated?.exitCode, 0);
  t.equal((await logsOf(pod.metadata.uid, 'hello')).text, 'hello-from-v0.4\n');
  t.equal((await suite.del(pod)).status, 200);
});

test('a repeated create of the same UID is harmless: one task per container', async (t) => {
  const pod = shellPod('repeat', image(), { main: 'until [ -e /shared/go ]; do sleep 0.1; done' });
  const [a, b] = await Promise.all([suite.create(createBody(pod)), suite.create(createBody(pod))]);
  const c = await suite.create([createBody(pod)]);
  for (const r of [a, b, c]) {
    t.equal(r.status, 200, r.text);
    t.same(r.json(), { PodUID: pod.metadata.uid, PodJID: pod.metadata.uid });
  }
  await suite.waitFor(pod, (s) => byName(s.containers, 'main').state.running !== undefined, 'running');
  const tasks = suite.ex.executor.tasks.list({ includeTerminal: true, states: [] }).filter((v) => v.labels['io.kubernetes.pod.uid'] === pod.metadata.uid);
  t.same(tasks.map((v) => v.taskId), [`k8s-${pod.metadata.uid}.main`], 'one task, named after the pod UID and container');
  suite.gate(pod.metadata.uid, 'shared', 'go');
  await suite.waitFor(pod, allTerminated, 'terminated');
  t.equal((await suite.del(pod)).status, 200);
});

test('status of a pod in every phase: Pending (init), Running, Succeeded, and Failed', async (t) => {
  const gated = (name: string) =>
    shellPod(
      name,
      image(),
      { main: 'until [ -e /shared/go-main ]; do sleep 0.1; done; exit $(cat /shared/go-main)' },
      { init: 'until [ -e /shared/go-init ]; do sleep 0.1; done' },
    );
  const ok = gated('phases-ok');
  const bad = gated('phases-bad');
  for (const pod of [ok, bad]) t.equal((await suite.create(createBody(pod))).status, 200);

  const pending = await suite.waitFor(ok, (s) => byName(s.initContainers, 'init').state.running !== undefined, 'init running');
  t.same(byName(pending.containers, 'main').state, { waiting: { reason: 'PodInitializing' } }, 'Pending: containers wait for the init container');
  t.equal(byName(pending.initContainers, 'init').ready, false);

  for (const pod of [ok, bad]) suite.gate(pod.metadata.uid, 'shared', 'go-init');
  const running = await suite.waitFor(ok, (s) => byName(s.containers, 'main').state.running !== undefined, 'main running');
  const main = byName(running.containers, 'main');
  t.match(main, { ready: true, started: true, restartCount: 0, image: image(), containerID: /^docker:\/\/[0-9a-f]{64}$/ });
  t.ok(Date.parse(main.state.running?.startedAt ?? '') <= Date.now(), 'Running: with startedAt');
  t.match(byName(running.initContainers, 'init').state.terminated, { exitCode: 0, reason: 'Completed' });

  suite.gate(ok.metadata.uid, 'shared', 'go-main', '0');
  suite.gate(bad.metadata.uid, 'shared', 'go-main', '3');
  const succeeded = await suite.waitFor(ok, allTerminated, 'Succeeded');
  const end = byName(succeeded.containers, 'main').state.terminated;
  t.match(end, { exitCode: 0, reason: 'Completed', containerID: /^docker:\/\// });
  t.ok(Date.parse(end?.finishedAt ?? '') >= Date.parse(end?.startedAt ?? ''), 'Succeeded: with start and finish times');
  const failed = await suite.waitFor(bad, allTerminated, 'Failed');
  t.match(byName(failed.containers, 'main').state.terminated, { exitCode: 3, reason: 'Error', message: /exited with code 3/ }, 'Failed: with its exit code');

  const unknown = await suite.status(statusRef('4b1d2f0e-0000-4000-8000-000000000000'));
  t.same(
    unknown.containers.map((c) => [c.name, c.state.terminated?.reason, c.state.terminated?.exitCode]),
    [
      ['main', 'ContainerStatusUnknown', 137],
      ['sidecar', 'ContainerStatusUnknown', 137],
    ],
    'a pod this host never had reads as lost',
  );
  for (const pod of [ok, bad]) t.equal((await suite.del(pod)).status, 200);
});

test('logs with and without follow: streamed while running, ended with the container', async (t) => {
  const pod = shellPod('logs', image(), { main: 'echo one; sleep 0.3; echo two >&2; until [ -e /shared/go ]; do sleep 0.1; done; echo three' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const uid = pod.metadata.uid;
  await suite.waitFor(pod, (s) => byName(s.containers, 'main').state.running !== undefined, 'running');

  const followed = follow(suite.socket, { ...fixture<{ Opts: object }>('getlogs.json', image(), uid), ContainerName: 'main', Opts: { Follow: true } });
  t.equal(await followed.status, 200);
  await followed.waitFor(/one\ntwo\n/);
  const snapshot = await logsOf(uid, 'main');
  t.equal(snapshot.text, 'one\ntwo\n', 'without follow: what there is so far, then the end');
  t.equal(followed.text(), 'one\ntwo\n', 'the follower waits for more');
  suite.gate(uid, 'shared', 'go');
  t.equal(await followed.ended, 'one\ntwo\nthree\n', 'the follower gets the rest, and the stream ends with the container');
  await suite.waitFor(pod, allTerminated, 'terminated');

  t.equal((await logsOf(uid, 'main', { Tail: 1 })).text, 'three\n', 'Tail');
  t.match((await logsOf(uid, 'main', { Timestamps: true })).text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z one\n/, 'Timestamps');
  t.equal((await logsOf(uid, 'main', { Bytes: 6 })).text, 'one\ntw', 'Bytes');
  const gone = follow(suite.socket, { ...fixture<{ Opts: object }>('getlogs.json', image(), uid), ContainerName: 'main', Opts: { Follow: true } });
  t.equal(await gone.ended, 'one\ntwo\nthree\n', 'following an ended container returns at once');

  const previous = await logsOf(uid, 'main', { Previous: true });
  t.equal(previous.status, 400, 'no previous instance: containers are not restarted');
  t.equal((await logsOf(uid, 'nope')).status, 404, 'unknown container');
  t.equal((await logsOf('4b1d2f0e-0000-4000-8000-000000000001', 'main')).status, 404, 'unknown pod');
  t.equal((await suite.del(pod)).status, 200);
});

test('a follower that goes away is let go, and the logs of a waiting container are refused', async (t) => {
  const pod = shellPod('logs-cut', image(), { main: 'echo started; until [ -e /shared/go ]; do sleep 0.1; done' }, { init: 'until [ -e /shared/go-init ]; do sleep 0.1; done' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const uid = pod.metadata.uid;
  await suite.waitFor(pod, (s) => byName(s.initContainers, 'init').state.running !== undefined, 'init running');
  const waiting = await logsOf(uid, 'main');
  t.equal(waiting.status, 400);
  t.match(waiting.text, /waiting to start: PodInitializing/);
  suite.gate(uid, 'shared', 'go-init');
  await suite.waitFor(pod, (s) => byName(s.containers, 'main').state.running !== undefined, 'running');
  const f = follow(suite.socket, { ...fixture<{ Opts: object }>('getlogs.json', image(), uid), ContainerName: 'main', Opts: { Follow: true } });
  await f.waitFor(/started\n/);
  f.close();
  await t.rejects(f.ended, 'the client cut its own stream');
  // The server still answers and the pod still ends normally.
  suite.gate(uid, 'shared', 'go');
  const end = await suite.waitFor(pod, allTerminated, 'terminated');
  t.equal(byName(end.containers, 'main').state.terminated?.exitCode, 0);
  t.equal((await suite.del(pod)).status, 200);
});

test('the same API on a loopback TCP listener (SidecarURL http://127.0.0.1)', async (t) => {
  const interlink = suite.ex.executor.interlink;
  if (interlink === undefined) throw new Error('the executor should serve interLink');
  const server = new InterlinkServer(interlink.service, { socketPath: null, listen: '127.0.0.1:0' }, silentLogger());
  await server.start();
  t.teardown(() => server.stop());
  const [address] = server.addresses;
  t.match(address, /^127\.0\.0\.1:\d+$/);
  const [host, port] = (address ?? '').split(':');
  const ping = await new Promise<string>((resolve, reject) => {
    const req = request({ host, port: Number(port), method: 'GET', path: '/status', headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end('[]');
  });
  t.match(JSON.parse(ping), { status: 'ok', resources: { pods: '110' } }, 'a GET with a JSON body, over TCP');
  const refused = new InterlinkServer(interlink.service, { socketPath: null, listen: '0.0.0.0:0' }, silentLogger());
  await t.rejects(refused.start(), /not a loopback/, 'never off-host, whatever the caller passes');
});

test('errors interLink may meet: bad bodies, methods and routes; delete of an unknown pod is 200', async (t) => {
  const notJson = await call(suite.socket, 'POST', '/create', '{"pod":');
  t.equal(notJson.status, 400);
  t.match(notJson.text, /not JSON/);
  const noUid = fixture<{ pod: { metadata: Record<string, unknown> } }>('create-v0.5-object.json', image());
  delete noUid.pod.metadata['uid'];
  const invalid = await suite.create(noUid);
  t.equal(invalid.status, 400);
  t.match(invalid.text, /pod\.metadata\.uid/, 'names the field');
  const empty = await suite.create([]);
  t.equal(empty.status, 400, 'an empty list of pods');
  t.equal((await call(suite.socket, 'GET', '/create', {})).status, 405, 'create is a POST');
  t.equal((await call(suite.socket, 'GET', '/nope', {})).status, 404);
  t.equal((await deleteRecorded('4b1d2f0e-0000-4000-8000-000000000002')).status, 200, 'delete of an unknown pod');
  const bad = await call(suite.socket, 'GET', '/status', { not: 'a list' });
  t.equal(bad.status, 400);
  const answer: PodStatusAnswer[] = (await call(suite.socket, 'GET', '/status', null)).json();
  t.ok(!Array.isArray(answer), 'an empty body is the ping too');
});
