/**
 * Replays what interLink does, not only what its wire format allows: requests
 * built as its Go code builds them (interlink-go.ts), answers read as its
 * virtual kubelet reads them. A pod polled before and during its create, an
 * init container that fails under restartPolicy Never, `kubectl logs -f` on a
 * quiet container, a pod whose token volume interLink did not resolve, a
 * non-root interLink on the socket over a kept-alive connection, a drain seen
 * through the node, pod-level runAsUser, mesh annotations, delete with grace.
 */
import t from 'tap';
import { chmodSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Agent, request, type ClientRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { PodStatusAnswer } from '../../src/k8s/pod-supervisor.js';
import { call, follow } from './interlink-client.js';
import { byName, podSuite } from './pod-suite.js';
import {
  allStatuses,
  goCreateBody,
  goDeleteBody,
  goLogsBody,
  goPod,
  schedulerFitsOneMore,
  TOKEN_MOUNT_PATH,
  vkApplyPing,
  vkPodPhase,
  withJobId,
  type GoPod,
  type VkNode,
} from './interlink-go.js';

/** Any gid: the socket is given to it, and a client process runs with it. */
const SOCKET_GID = 4242;
const suite = podSuite(t, { socketGroup: String(SOCKET_GID), socketMode: 0o660 });
const test = suite.test;
const image = (): string => suite.h.images.busybox;

/** GET /status with one pod, as interLink's API server forwards the virtual kubelet's poll. */
const poll = async (pod: GoPod): Promise<PodStatusAnswer> => {
  const r = await call(suite.socket, 'GET', '/status', [pod]);
  if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.text}`);
  const [answer] = r.json<PodStatusAnswer[]>();
  if (answer === undefined) throw new Error('/status answered no pod');
  return answer;
};

const pollUntil = async (pod: GoPod, done: (s: PodStatusAnswer) => boolean, what: string, timeoutMs = 60_000): Promise<PodStatusAnswer> => {
  const deadline = Date.now() + timeoutMs;
  let last: PodStatusAnswer | undefined;
  while (Date.now() < deadline) {
    last = await poll(pod);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${pod.metadata.name}: not ${what} within ${timeoutMs} ms; last ${JSON.stringify(last)}`);
};

const createGo = (body: unknown) => call(suite.socket, 'POST', '/create', body);
const deleteGo = (pod: GoPod, graceSeconds = 30) => call(suite.socket, 'DELETE', '/delete', goDeleteBody(pod, graceSeconds));

test('a pod polled before its create, during it and after reads waiting, and the virtual kubelet keeps it Pending', async (t) => {
  const uid = randomUUID();
  // Many ConfigMap files make the create take a while, so polls land during it.
  const keys = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, `value-${i}`]));
  const pod = goPod('replay-early', uid, {
    containers: [{ name: 'main', image: image(), command: ['sh', '-c', 'test -e /etc/many/k1999 && until [ -e /shared/go ]; do sleep 0.1; done'], volumeMounts: [{ name: 'shared', mountPath: '/shared' }, { name: 'many', mountPath: '/etc/many' }] }],
  });
  (pod.spec['volumes'] as unknown[]).push({ name: 'many', configMap: { name: 'many', defaultMode: 420 } });
  const configMap = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'many', namespace: 'vk-replay', creationTimestamp: null }, data: keys };

  // The virtual kubelet marks the pod Pending and polls every 5 s while it still resolves volumes.
  const before = await poll(pod);
  t.same(byName(before.containers, 'main').state, { waiting: { reason: 'ContainerCreating', message: 'the pod is not created on this host yet' } });
  t.match(vkPodPhase(before), { phase: 'Pending', skipped: false }, 'before the create: the virtual kubelet keeps it Pending (today: Failed, exit 137)');

  let created = false;
  const create = createGo(goCreateBody(pod, { resolveToken: true, configMaps: [configMap] })).finally(() => (created = true));
  const during: PodStatusAnswer[] = [];
  while (!created) {
    const s = await poll(pod);
    if (!created) during.push(s);
    await new Promise((r) => setTimeout(r, 10));
  }
  const r = await create;
  t.equal(r.status, 200, r.text);
  t.ok(during.length > 0, `polled ${during.length} times while the create was in flight`);
  const notWaiting = during.filter((s) => !s.containers.every((c) => c.state.waiting?.reason === 'ContainerCreating'));
  t.same(notWaiting, [], 'during the create: every answer waiting');
  t.same([...new Set(during.map((s) => vkPodPhase(s).phase))], ['Pending'], 'and the virtual kubelet keeps it Pending');

  const running = await pollUntil(withJobId(pod, uid), (s) => byName(s.containers, 'main').state.running !== undefined, 'running');
  t.equal(vkPodPhase(running).phase, 'Running', 'after the create, with the JobID: Running');
  suite.gate(uid, 'shared', 'go');
  const done = await pollUntil(withJobId(pod, uid), (s) => vkPodPhase(s).phase !== 'Running', 'ended');
  t.match(vkPodPhase(done), { phase: 'Succeeded' }, 'it saw every ConfigMap file: the create was whole');
  t.equal((await deleteGo(withJobId(pod, uid))).status, 200);
});

test('a pod with the JobID that this host has no record of reads lost, without claiming a restart', async (t) => {
  const pod = withJobId(goPod('replay-gone', randomUUID(), { initContainers: [{ name: 'init', image: image() }], containers: [{ name: 'main', image: image() }] }), 'some-jid');
  const s = await poll(pod);
  for (const c of allStatuses(s)) {
    t.match(c.state.terminated, { exitCode: 137, reason: 'ContainerStatusUnknown' }, c.name);
    t.match(c.state.terminated?.message, /no record of it/);
    t.notMatch(c.state.terminated?.message, /restart/, 'the executor never saw this pod: no word of a restart');
  }
  t.match(vkPodPhase(s), { phase: 'Failed' }, 'its controller replaces it');
});

test('a failed init container under restartPolicy Never fails the pod for the virtual kubelet; delete with grace removes it', async (t) => {
  const uid = randomUUID();
  const pod = withJobId(
    goPod('replay-init-fails', uid, {
      initContainers: [
        { name: 'broken', image: image(), command: ['sh', '-c', 'exit 2'] },
        { name: 'after', image: image(), command: ['sh', '-c', 'echo never'] },
      ],
      containers: [
        { name: 'main', image: image(), command: ['sh', '-c', 'echo never'] },
        { name: 'side', image: image(), command: ['sh', '-c', 'echo never'] },
      ],
    }),
    uid,
  );
  t.equal((await createGo(goCreateBody(pod, { resolveToken: true }))).status, 200);
  const done = await pollUntil(pod, (s) => byName(s.initContainers, 'broken').state.terminated !== undefined, 'init ended');
  t.match(byName(done.initContainers, 'broken').state.terminated, { exitCode: 2, reason: 'Error' });
  for (const name of ['after', 'main', 'side']) {
    const c = allStatuses(done).find((x) => x.name === name);
    t.match(c?.state.terminated, { exitCode: 0, reason: 'InitContainerFailed', message: /init container broken exited with code 2/ }, `${name} reads as never to run`);
    t.equal(c?.ready, false);
  }
  t.same(vkPodPhase(done), { phase: 'Failed', reason: 'Error: 2', skipped: false }, 'Failed with the init container’s exit: a Job sees it and its backoffLimit acts (today: Pending forever)');
  const tasks = suite.ex.executor.tasks.list({ includeTerminal: true, states: [] }).filter((v) => v.labels['io.kubernetes.pod.uid'] === uid);
  t.same(tasks.map((v) => v.labels['io.kubernetes.container.name']), ['broken'], 'only the failed init container ever ran');
  const logs = await call(suite.socket, 'GET', '/getLogs', goLogsBody(pod, 'main', false));
  t.equal(logs.status, 400);
  t.match(logs.text, /container "main" in pod "replay-init-fails" was not started: init container broken exited with code 2/, 'its logs say why there are none');
  const del = await deleteGo(pod, 5);
  t.equal(del.status, 200, del.text);
  t.notOk(existsSync(join(suite.ex.config.stateDir, 'k8s', 'pods', uid)), 'its files are gone');
});

test('an init container the host refuses gives the pod up whatever its restartPolicy: Failed, not Pending', async (t) => {
  const uid = randomUUID();
  const pod = withJobId(
    goPod('replay-init-refused', uid, { initContainers: [{ name: 'gpu', image: image() }], containers: [{ name: 'main', image: image() }], restartPolicy: 'Always' }),
    uid,
  );
  const gpuInit = pod.spec.initContainers?.[0];
  if (gpuInit !== undefined) gpuInit['resources'] = { limits: { 'nvidia.com/gpu': '1' } };
  t.equal((await createGo(goCreateBody(pod, { resolveToken: true }))).status, 200);
  const done = await pollUntil(pod, (s) => vkPodPhase(s).phase !== 'Pending', 'decided');
  t.match(byName(done.initContainers, 'gpu').state.terminated, { exitCode: 128 });
  t.match(byName(done.containers, 'main').state.terminated, { exitCode: 0, reason: 'InitContainerFailed', message: /init container gpu could not start/ });
  t.same(vkPodPhase(done), { phase: 'Failed', reason: 'Error: 128', skipped: false });
  t.equal((await deleteGo(pod)).status, 200);
});

test('kubectl logs -f on a container with no output yet gets its headers at once, then the lines', async (t) => {
  const uid = randomUUID();
  const pod = withJobId(
    goPod('replay-quiet', uid, { containers: [{ name: 'main', image: image(), command: ['sh', '-c', 'until [ -e /shared/go ]; do sleep 0.1; done; echo finally'], volumeMounts: [{ name: 'shared', mountPath: '/shared' }] }] }),
    uid,
  );
  t.equal((await createGo(goCreateBody(pod, { resolveToken: true }))).status, 200);
  await pollUntil(pod, (s) => byName(s.containers, 'main').state.running !== undefined, 'running');
  const started = Date.now();
  const followed = follow(suite.socket, goLogsBody(pod, 'main', true));
  const status = await Promise.race([followed.status, new Promise<'no headers'>((r) => setTimeout(() => r('no headers'), 5000))]);
  t.equal(status, 200, `headers within ${Date.now() - started} ms, before any line (interLink gives up after 120 s without them)`);
  t.equal(followed.text(), '');
  suite.gate(uid, 'shared', 'go');
  t.equal(await followed.ended, 'finally\n', 'the line, then the end with the container');
  t.equal((await call(suite.socket, 'GET', '/getLogs', goLogsBody({ ...pod, metadata: { ...pod.metadata, uid: randomUUID() } }, 'main', true))).status, 404, 'an unknown pod is still a 404');
  t.equal((await deleteGo(pod)).status, 200);
});

test('delete as the virtual kubelet sends it: deletionGracePeriodSeconds, SIGTERM then SIGKILL after it', async (t) => {
  const uid = randomUUID();
  const pod = withJobId(
    goPod('replay-grace', uid, { containers: [{ name: 'main', image: image(), command: ['sh', '-c', "trap '' TERM; touch /shared/ready; while :; do sleep 0.2; done"], volumeMounts: [{ name: 'shared', mountPath: '/shared' }] }] }),
    uid,
  );
  t.equal((await createGo(goCreateBody(pod, { resolveToken: true }))).status, 200);
  const ready = join(suite.ex.config.stateDir, 'k8s', 'pods', uid, 'volumes', 'shared', 'ready');
  await pollUntil(pod, (s) => byName(s.containers, 'main').state.running !== undefined && existsSync(ready), 'running and trapping');
  const started = Date.now();
  const del = await deleteGo(pod, 2);
  const ms = Date.now() - started;
  t.equal(del.status, 200, del.text);
  t.ok(ms >= 2000 && ms < 15_000, `answered after the 2 s grace, not the spec's 30 s (${ms} ms)`);
  t.notOk(existsSync(join(suite.ex.config.stateDir, 'k8s', 'pods', uid)), 'its files are gone');
});

test('a pod whose service-account token volume interLink did not resolve runs without that mount', async (t) => {
  const uid = randomUUID();
  const pod = withJobId(goPod('replay-no-token', uid, { containers: [{ name: 'main', image: image(), command: ['sh', '-c', `test ! -e ${TOKEN_MOUNT_PATH}/token`] }] }), uid);
  const r = await createGo(goCreateBody(pod, { resolveToken: false }));
  t.equal(r.status, 200, `interLink 0.3.x or DisableProjectedVolumes: accepted (today: 400) ${r.text}`);
  const done = await pollUntil(pod, (s) => vkPodPhase(s).phase !== 'Pending' && vkPodPhase(s).phase !== 'Running', 'ended');
  t.match(byName(done.containers, 'main').state.terminated, { exitCode: 0 }, 'no token mounted');
  t.equal((await deleteGo(pod)).status, 200);

  const other = goPod('replay-other-projected', randomUUID(), { containers: [{ name: 'main', image: image(), volumeMounts: [{ name: 'mine', mountPath: '/mine' }] }] });
  (other.spec['volumes'] as unknown[]).push({ name: 'mine', projected: { sources: [{ serviceAccountToken: { path: 'vault', audience: 'vault' } }] } });
  const refused = await createGo(goCreateBody(other, { resolveToken: true }));
  t.equal(refused.status, 400, 'any other unresolved projected volume is still refused');
  t.match(refused.text, /projected volume mine was not resolved/);
});

/** GET /status [] from a process running as nobody with only the socket's group. */
const pingAsNonRoot = (socketPath: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const script = `
      const req = require('node:http').request({ socketPath: ${JSON.stringify(socketPath)}, method: 'GET', path: '/status', headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
        process.stdout.write(String(res.statusCode)); res.resume();
      });
      req.on('error', (err) => process.stdout.write(err.code ?? err.message));
      req.end('[]');`;
    const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: SOCKET_GID, env: {}, cwd: '/' });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });

test('interLink running as its own user (not root) reaches the socket through socketGroup, and its kept-alive connection outlasts 5 s', async (t) => {
  chmodSync(dirname(suite.socket), 0o755); // the test's own directory; the executor's is /run/titus-executor (0755)
  t.equal(await pingAsNonRoot(suite.socket), '200', 'uid 65534 in the socket group (today: EACCES on a root:root socket)');

  // interLink's transport keeps idle connections 120 s and does not retry a POST on one the server closed.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = (): Promise<{ status: number; reused: boolean }> =>
    new Promise((resolve, reject) => {
      const req: ClientRequest = request({ socketPath: suite.socket, agent, method: 'GET', path: '/status', headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end('[]');
    });
  t.same(await get(), { status: 200, reused: false });
  await new Promise((r) => setTimeout(r, 6000));
  t.same(await get(), { status: 200, reused: true }, 'the same connection after 6 s idle (today: closed by the server after 5 s)');
});

test('a drain reaches the node through what the virtual kubelet pushes, and its end clears the taint', async (t) => {
  const tasks = suite.ex.executor.tasks;
  t.teardown(() => void tasks.setDrain(false, ''));
  const ping = async (): Promise<string> => {
    // interLink's API server turns the virtual kubelet's /pinglink into GET /status with [].
    const r = await call(suite.socket, 'GET', '/status', []);
    t.equal(r.status, 200);
    return r.text;
  };
  let node: VkNode = { capacity: {}, taints: [{ key: 'virtual-node.interlink/no-schedule', value: 'true', effect: 'NoSchedule' }], pingResponseAnnotation: '' };
  node = vkApplyPing(node, await ping());
  t.equal(node.capacity['pods'], '110');
  t.ok(schedulerFitsOneMore(node, 3), 'pods land while the host takes work');
  t.notOk('taints' in JSON.parse(node.pingResponseAnnotation), 'taints are left alone before any drain (interLink’s configured ones live there)');

  tasks.setDrain(true, 'replay');
  node = vkApplyPing(node, await ping());
  t.equal(node.capacity['pods'], '0', 'pod capacity 0: node status reaches the cluster (the fork never pushes spec.taints)');
  t.notOk(schedulerFitsOneMore(node, 3), 'the scheduler places no new pod (today: it does, and they fail)');
  t.match(JSON.parse(node.pingResponseAnnotation), { draining: true }, 'readable in the interlink.virtual-kubelet.io/ping-response annotation');
  t.match(node.taints, [{ key: 'virtual-node.interlink/no-schedule' }, { key: 'titus.executor/draining', effect: 'NoSchedule' }]);

  tasks.setDrain(false, '');
  const after = await ping();
  t.same(JSON.parse(after).taints, [], 'taints: [] once the drain ends');
  node = vkApplyPing(node, after);
  t.same(node.taints.map((x) => x.key), ['virtual-node.interlink/no-schedule'], 'the drain taint is gone from the virtual kubelet’s node');
  t.equal(node.capacity['pods'], '110');
  t.ok(schedulerFitsOneMore(node, 3));
});

test('a pod-level runAsUser is treated as a container-level one; mesh annotations are refused by name', async (t) => {
  const asUser = goPod('replay-pod-user', randomUUID(), { containers: [{ name: 'main', image: image() }], securityContext: { runAsUser: 1000 } });
  const refused = await createGo(goCreateBody(asUser, { resolveToken: true }));
  t.equal(refused.status, 400, 'today: accepted and run as the image user');
  t.match(refused.text, /^pod\.spec\.securityContext\.runAsUser: is not supported/);

  const group = goPod('replay-pod-group', randomUUID(), { containers: [{ name: 'main', image: image() }], securityContext: { runAsGroup: 1000 } });
  t.match((await createGo(goCreateBody(group, { resolveToken: true }))).text, /^pod\.spec\.securityContext\.runAsGroup:/);

  // The container's own setting wins over the pod's, as in Kubernetes: root here.
  const uid = randomUUID();
  const overridden = withJobId(
    goPod('replay-root-wins', uid, { containers: [{ name: 'main', image: image(), command: ['sh', '-c', 'test "$(id -u)" = 0'], securityContext: { runAsUser: 0 } }], securityContext: { runAsUser: 1000 } }),
    uid,
  );
  const ok = await createGo(goCreateBody(overridden, { resolveToken: true }));
  t.equal(ok.status, 200, ok.text);
  const done = await pollUntil(overridden, (s) => byName(s.containers, 'main').state.terminated !== undefined, 'ended');
  t.match(byName(done.containers, 'main').state.terminated, { exitCode: 0 });
  t.equal((await deleteGo(overridden)).status, 200);

  for (const key of ['slurm-job.vk.io/pre-exec', 'interlink.eu/wstunnel-client-commands']) {
    const mesh = goPod('replay-mesh', randomUUID(), { containers: [{ name: 'main', image: image() }] }, { [key]: 'wstunnel client ...' });
    const r = await createGo(goCreateBody(mesh, { resolveToken: true }));
    t.equal(r.status, 400, `${key}: refused (today: accepted, and the pod is off the cluster network)`);
    t.match(r.text, new RegExp(`^pod\\.metadata\\.annotations\\.${key.replaceAll('.', '\\.')}: interLink's mesh networking is not supported`));
  }
});
