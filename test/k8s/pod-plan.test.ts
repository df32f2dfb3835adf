/**
 * Pod → task translation without an engine: quantities, images, env, volumes
 * written to disk, container statuses, the ping answer, the log options, the
 * config section, and the LaunchSpec extras honoured by the container builder.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { isExecutorError } from '../../src/common/errors.js';
import { buildContainerSpec } from '../../src/task/build-container-spec.js';
import { imageRefFor } from '../../src/runtime/image-ref.js';
import { toContainerStatus, type ContainerRecord } from '../../src/k8s/container-status.js';
import { planLogs } from '../../src/k8s/log-request.js';
import { pingAnswer } from '../../src/k8s/node-status.js';
import { expandVars } from '../../src/k8s/pod-env.js';
import { imageFields, planPod } from '../../src/k8s/pod-plan.js';
import { POD_UID_RE, createRequestSchema, logsRequestSchema, type CreateRequest } from '../../src/k8s/pod-schema.js';
import { parsePodTaskId, podTaskId, runTaskId } from '../../src/k8s/pod-names.js';
import { backoffMs, shouldRestart, type RestartPolicy } from '../../src/k8s/restart-policy.js';
import { TASK_ID_RE } from '../../src/api/validate.js';
import { parseQuantity } from '../../src/task/quantity.js';
import type { HostResourcesView } from '../../src/task/task-manager.js';
import type { TaskView } from '../../src/task/types.js';
import { fixture } from './interlink-client.js';

const defaults = parseConfig({}).defaultResources;
const IMAGE = '127.0.0.1:5000/titus/busybox:latest';
const UID = '0c3b7a52-3c0e-4f43-9d0e-6a1e2f1b7c41';

const tempDir = (t: { teardown(fn: () => void): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-k8s-plan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const contractRequest = (edit: (r: CreateRequest) => void = () => undefined): CreateRequest => {
  const r = createRequestSchema.parse(fixture('create-v0.5-object.json', IMAGE, UID));
  edit(r);
  return r;
};

const rejects = async (t: import('tap').Test, p: Promise<unknown>, field: RegExp, what: string): Promise<void> => {
  try {
    await p;
    t.fail(`${what}: expected INVALID_ARGUMENT`);
  } catch (err) {
    t.ok(isExecutorError(err, 'INVALID_ARGUMENT'), `${what}: INVALID_ARGUMENT`);
    t.match((err as Error).message, field, `${what}: names the field`);
  }
};

t.test('quantities as Kubernetes writes them', async (t) => {
  t.equal(parseQuantity('500m', 'f'), 0.5);
  t.equal(parseQuantity('2', 'f'), 2);
  t.equal(parseQuantity(3, 'f'), 3);
  t.equal(parseQuantity('128Mi', 'f'), 128 * 1024 * 1024);
  t.equal(parseQuantity('1G', 'f'), 1e9);
  t.equal(parseQuantity('1e3', 'f'), 1000);
  t.equal(parseQuantity('1.5Gi', 'f'), 1.5 * 2 ** 30);
  t.throws(() => parseQuantity('12 apples', 'pod.spec.containers.0.resources.limits.cpu'), /resources\.limits\.cpu/);
  t.throws(() => parseQuantity('-1', 'f'), /quantity >= 0/);
});

t.test('image references split into ContainerInfo fields', async (t) => {
  t.same(imageFields('busybox'), { fullyQualifiedImage: 'busybox' });
  t.same(imageFields('127.0.0.1:5000/a/b:1.2'), { fullyQualifiedImage: '127.0.0.1:5000/a/b', version: '1.2' });
  t.same(imageFields('localhost:5000/x'), { fullyQualifiedImage: 'localhost:5000/x' });
  const digest = `sha256:${'a'.repeat(64)}`;
  t.same(imageFields(`r/x:t@${digest}`), { fullyQualifiedImage: 'r/x', version: 't', imageDigest: digest });
});

t.test('task ids from the longest pod UID and container name are valid task ids', async (t) => {
  t.match(podTaskId(`a${'-'.repeat(58)}`, `b${'0'.repeat(62)}`), TASK_ID_RE);
  t.match(`a${'-'.repeat(58)}`, POD_UID_RE);
  t.notMatch(`a${'-'.repeat(59)}`, POD_UID_RE, 'a longer UID is refused at the edge');
  t.notMatch('../etc', POD_UID_RE, 'and so is one that is not a file name');
});

t.test('$(VAR) expansion follows Kubernetes', async (t) => {
  t.equal(expandVars('$(A)-$(B)-$$(A)-$$-x$(', { A: '1' }), '1-$(B)-$(A)-$-x$(');
});

t.test('the recorded pod becomes one launch per container, init first', async (t) => {
  const dir = tempDir(t);
  const plan = await planPod(contractRequest(), dir, defaults);
  t.same(
    plan.containers.map((c) => [c.name, c.init, c.taskId]),
    [
      ['prepare', true, `k8s-${UID}.prepare`],
      ['main', false, `k8s-${UID}.main`],
      ['sidecar', false, `k8s-${UID}.sidecar`],
    ],
  );
  t.same(plan.pod, { uid: UID, name: 'interlink-contract', namespace: 'vk-test' });
  t.equal(plan.graceSeconds, 30);
  const [prepare, main, sidecar] = plan.containers;
  if (prepare === undefined || main === undefined || sidecar === undefined) throw new Error('three containers expected');
  t.same(main.launch.resources, { cpu: 0.5, memoryMb: 64, diskMb: defaults.diskMb, networkMbps: defaults.networkMbps, gpus: 0 }, 'limits win');
  t.same([sidecar.launch.resources.cpu, sidecar.launch.resources.memoryMb], [0.1, 16], 'requests when there are no limits');
  t.same([prepare.launch.resources.cpu, prepare.launch.resources.memoryMb], [defaults.cpu, defaults.memoryMb], 'defaults when neither');
  const env = main.launch.containerInfo.userProvidedEnv ?? {};
  t.equal(env['GREETING'], 'hello-from-configmap', 'configMapKeyRef');
  t.equal(env['PASSWORD'], 's3cr3t-pass', 'secretKeyRef, base64-decoded');
  t.equal(env['POD_NAME'], 'interlink-contract', 'fieldRef metadata.name');
  t.equal(env['POD_NS'], 'vk-test', 'fieldRef metadata.namespace');
  t.equal(env['INTERPOLATED'], 'ns=vk-test', '$(VAR) of an earlier variable');
  t.equal(env['CFG_greeting'], 'hello-from-configmap', 'envFrom with a prefix');
  t.notOk('MISSING_OPTIONAL' in env, 'an optional reference that is missing sets nothing');
  t.same(main.launch.containerInfo.process?.entrypoint, ['sh', '-c'], 'command is the entrypoint');
  t.equal(main.launch.containerInfo.process?.command?.length, 1, 'args are the command');
  t.match(main.launch.containerInfo.process?.command?.[0] ?? '', /\$CFG_greeting\|ns=vk-test"$/, 'args expanded with the env');
  t.same(sidecar.launch.containerInfo.process, { entrypoint: ['sh', '-c', 'cat /shared/init.txt > /shared/sidecar-saw.txt'] }, 'command only');
  t.same(imageFields(main.image), { fullyQualifiedImage: main.launch.containerInfo.fullyQualifiedImage, version: 'latest' });
  t.equal(main.launch.hostname, 'interlink-contract');
  t.equal(main.launch.containerInfo.killWaitSeconds, 30);
  t.same(main.launch.containerLabels, {
    'io.kubernetes.pod.uid': UID,
    'io.kubernetes.pod.name': 'interlink-contract',
    'io.kubernetes.pod.namespace': 'vk-test',
    'io.kubernetes.container.name': 'main',
    'titus.executor.k8s.container-kind': 'main',
  });
  t.same(main.launch.labels, main.launch.containerLabels, 'the task carries the same labels');
  t.same(main.launch.mounts, [
    { source: join(dir, 'shared'), target: '/shared', readOnly: false },
    { source: join(dir, 'config'), target: '/etc/config', readOnly: true },
    { source: join(dir, 'creds'), target: '/etc/creds', readOnly: true },
    { source: join(dir, 'kube-api-access-x7k2p'), target: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
  ]);
  t.equal(readFileSync(join(dir, 'config', 'greeting.txt'), 'utf8'), 'hello-from-configmap', 'items: key at its path');
  t.equal(statSync(join(dir, 'config', 'greeting.txt')).mode & 0o777, 0o644);
  t.equal(readFileSync(join(dir, 'creds', 'password'), 'utf8'), 's3cr3t-pass');
  t.equal(statSync(join(dir, 'creds', 'password')).mode & 0o777, 0o400, 'the Secret volume defaultMode');
  t.equal(readFileSync(join(dir, 'kube-api-access-x7k2p', 'namespace'), 'utf8'), 'vk-test', 'projected files as interLink resolved them');
  t.equal(statSync(join(dir, 'shared')).mode & 0o777, 0o777, 'an emptyDir any user may write');
});

t.test('what the plan cannot honour is refused, naming the field', async (t) => {
  const dir = tempDir(t);
  await rejects(
    t,
    planPod(contractRequest((r) => (r.container = [])), dir, defaults),
    /pod\.spec\.volumes\.1\.configMap: ConfigMap contract-config was not sent/,
    'a ConfigMap volume without its ConfigMap',
  );
  await rejects(
    t,
    planPod(contractRequest((r) => Object.assign(r.pod.spec.containers[0] ?? {}, { workingDir: 'app' })), dir, defaults),
    /containers\.0\.workingDir: must be an absolute path/,
    'a relative workingDir',
  );
  await rejects(
    t,
    planPod(contractRequest((r) => r.pod.spec.volumes?.push({ name: 'host', hostPath: { path: '/etc' } } as never) && r.pod.spec.containers[0]?.volumeMounts?.push({ name: 'host', mountPath: '/h' })), dir, defaults),
    /volumes\.4: volume host: only emptyDir/,
    'a hostPath volume',
  );
  await rejects(
    t,
    planPod(contractRequest((r) => r.pod.spec.containers[0]?.volumeMounts?.push({ name: 'shared', mountPath: '/x', subPath: '../../etc' })), dir, defaults),
    /volumeMounts\.4\.subPath/,
    'a subPath leaving its volume',
  );
  await rejects(
    t,
    planPod(contractRequest((r) => Object.assign(r.pod.spec.containers[0] ?? {}, { resources: { limits: { 'nvidia.com/gpu': '0.5' } } })), dir, defaults),
    /limits\.nvidia\.com\/gpu/,
    'half a GPU',
  );
  await rejects(
    t,
    planPod(contractRequest((r) => r.pod.spec.containers.push({ ...(r.pod.spec.containers[1] ?? { image: '' }), name: 'main' })), dir, defaults),
    /containers\.2\.name: container name main is used twice/,
    'a duplicate container name',
  );
  const gpu = await planPod(contractRequest((r) => Object.assign(r.pod.spec.containers[1] ?? {}, { resources: { limits: { 'nvidia.com/gpu': '2' } } })), dir, defaults);
  t.equal(gpu.containers.find((c) => c.name === 'sidecar')?.launch.resources.gpus, 2, 'nvidia.com/gpu becomes the task GPU count');
});

t.test('container statuses in the Kubernetes shape', async (t) => {
  const at = Date.parse('2025-03-11T09:14:05Z');
  const st = (r: ContainerRecord, init = false) => toContainerStatus('c', 'img', init, r).state;
  t.same(st({}), { waiting: { reason: 'PodInitializing' } });
  t.same(st({ state: 'STARTING', message: 'pulling image img' }), { waiting: { reason: 'ContainerCreating', message: 'pulling image img' } });
  t.same(st({ state: 'RUNNING', startedAtMs: at }), { running: { startedAt: '2025-03-11T09:14:05Z' } });
  const done = { startedAtMs: at, finishedAtMs: at + 2000, containerId: 'abc' };
  t.same(st({ ...done, state: 'FINISHED', exit: { exitCode: 0, oomKilled: false } }), {
    terminated: { exitCode: 0, reason: 'Completed', startedAt: '2025-03-11T09:14:05Z', finishedAt: '2025-03-11T09:14:07Z', containerID: 'docker://abc' },
  });
  t.match(st({ ...done, state: 'FAILED', message: 'main container exited with code 3', exit: { exitCode: 3, oomKilled: false } }), {
    terminated: { exitCode: 3, reason: 'Error', message: 'main container exited with code 3' },
  });
  t.match(st({ ...done, state: 'FAILED', exit: { exitCode: 137, oomKilled: true } }), { terminated: { exitCode: 137, reason: 'OOMKilled' } });
  t.match(st({ refused: { code: 'RESOURCE_EXHAUSTED', message: 'no GPU free' } }), { terminated: { exitCode: 128, reason: 'UnexpectedAdmissionError', message: 'no GPU free' } });
  t.match(st({ lost: true }), { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown' } });
  t.match(st({ state: 'KILLED' }), { terminated: { exitCode: 137 } });
  t.match(st({ state: 'FAILED', message: 'image not found' }), { terminated: { exitCode: 128, reason: 'StartError' } });
  const running = toContainerStatus('c', 'img', false, { state: 'RUNNING', startedAtMs: at, containerId: 'abc' });
  t.match(running, { ready: true, started: true, restartCount: 0, image: 'img', containerID: 'docker://abc' });
  t.equal(toContainerStatus('c', 'img', true, { ...done, state: 'FINISHED', exit: { exitCode: 0, oomKilled: false } }).ready, true, 'a completed init container is ready');
});

t.test('the ping: capacity less non-Kubernetes tasks, and a taint while draining', async (t) => {
  const host = { total: { cpu: 8, memoryMb: 16384, diskMb: 0, networkMbps: 0, gpus: 2 } } as HostResourcesView;
  const task = (labels: Record<string, string>, state: TaskView['state'] = 'RUNNING'): TaskView =>
    ({ state, labels, resources: { cpu: 1, memoryMb: 1024, diskMb: 0, networkMbps: 0, gpus: 1 } }) as unknown as TaskView;
  const live = [task({}), task({ 'io.kubernetes.pod.uid': UID }), task({}, 'FINISHED')];
  t.same(pingAnswer(host, live, 110, false), {
    status: 'ok',
    resources: { cpu: '7000m', memory: '15360Mi', pods: '110', accelerators: [{ resourceType: 'nvidia.com/gpu', available: '1' }] },
  });
  t.same(pingAnswer(host, [], 110, true).taints, [{ key: 'titus.executor/draining', value: 'true', effect: 'NoSchedule' }]);
});

t.test('log options: Go zero times, since, tail and bytes', async (t) => {
  const now = Date.parse('2025-03-11T10:00:00Z');
  const recorded = fixture<{ Opts: Record<string, unknown> }>('getlogs.json', IMAGE, UID);
  const req = (opts: Record<string, unknown>) => logsRequestSchema.parse({ ...recorded, Opts: { ...recorded.Opts, ...opts } });
  t.same(planLogs(req({}), now), { follow: false, timestamps: false }, 'the recorded body asks for everything');
  t.same(planLogs(req({ Tail: 5, Follow: true, Timestamps: true }), now), { tailLines: 5, follow: true, timestamps: true });
  t.same(planLogs(req({ SinceSeconds: 60 }), now).sinceMs, now - 60_000);
  t.same(planLogs(req({ SinceTime: '2025-03-11T09:30:00Z' }), now).sinceMs, Date.parse('2025-03-11T09:30:00Z'));
  t.same(planLogs(req({ Bytes: 10 }), now).limitBytes, 10);
  t.throws(() => planLogs(req({ SinceTime: 'yesterday' }), now), /Opts\.SinceTime/);
});

t.test('config: loopback only', async (t) => {
  t.equal(parseConfig({ interlink: { enabled: true, listen: '127.0.0.1:4000' } }).interlink.listen, '127.0.0.1:4000');
  t.equal(parseConfig({ interlink: { listen: '[::1]:4000' } }).interlink.listen, '[::1]:4000');
  for (const bad of ['0.0.0.0:4000', '10.0.0.5:4000', 'localhost:4000', '[::]:4000', '127.0.0.1']) {
    t.throws(() => parseConfig({ interlink: { listen: bad } }), /interlink\.listen: must be a loopback/, bad);
  }
  t.throws(() => parseConfig({ interlink: { enabled: true, socketPath: null } }), /socketPath or listen/);
  t.same(parseConfig({}).interlink, {
    enabled: false,
    socketPath: '/run/titus-executor/interlink.sock',
    listen: null,
    maxPods: 110,
    restartBackoff: { initialSeconds: 10, maxSeconds: 300 },
  });
  t.throws(() => parseConfig({ interlink: { restartBackoff: { initialSeconds: 60, maxSeconds: 30 } } }), /maxSeconds must be at least initialSeconds/);
});

t.test('the container builder honours the launch extras', async (t) => {
  const config = parseConfig({ executorId: 'ex1' });
  const launch = {
    taskId: `k8s-${UID}.main`,
    containerInfo: { fullyQualifiedImage: 'busybox' },
    resources: { cpu: 1, memoryMb: 64, diskMb: 10, networkMbps: 0, gpus: 0 },
    labels: {},
    mounts: [{ source: '/var/lib/x/shared', target: '/shared', readOnly: false }],
    containerLabels: { 'io.kubernetes.pod.uid': UID, 'titus.task_id': 'not-this' },
    hostname: 'interlink-contract',
  };
  const spec = buildContainerSpec({
    launch,
    image: imageRefFor(launch.containerInfo, ''),
    imageConfig: { id: 'x', entrypoint: [], cmd: ['sh'], sizeBytes: 1 },
    env: {},
    config,
    executorPid: 1,
    mounts: [{ source: '/run/sandbox/hosts', target: '/etc/hosts', readOnly: true }],
  });
  t.same(spec.mounts, [...launch.mounts, { source: '/run/sandbox/hosts', target: '/etc/hosts', readOnly: true }], "the launch's mounts, then the parts'");
  t.equal(spec.labels['io.kubernetes.pod.uid'], UID);
  t.equal(spec.labels['titus.task_id'], launch.taskId, "the executor's own labels win");
  t.equal(spec.hostname, 'interlink-contract');
});

t.test('restartPolicy: Kubernetes\' default when absent; which ends run again; the back-off', async (t) => {
  const req = contractRequest();
  t.equal((await planPod(req, tempDir(t), defaults)).restartPolicy, 'Never', 'as the pod says');
  delete (req.pod.spec as { restartPolicy?: string }).restartPolicy;
  t.equal((await planPod(req, tempDir(t), defaults)).restartPolicy, 'Always', 'absent: Always');
  t.same(parsePodTaskId(runTaskId(podTaskId(UID, 'main'), 0)), { podUid: UID, container: 'main', restarts: 0 });
  t.same(parsePodTaskId(runTaskId(podTaskId(UID, 'main'), 12)), { podUid: UID, container: 'main', restarts: 12 });
  t.equal(parsePodTaskId('some-task'), undefined, 'not a pod task');

  const ok: ContainerRecord = { state: 'FINISHED', exit: { exitCode: 0, oomKilled: false } };
  const failed: ContainerRecord = { state: 'FAILED', exit: { exitCode: 1, oomKilled: false } };
  const refused: ContainerRecord = { refused: { code: 'RESOURCE_EXHAUSTED', message: 'no room' } };
  const table: Array<[RestartPolicy, boolean, ContainerRecord, boolean]> = [
    ['Always', false, ok, true],
    ['Always', false, failed, true],
    ['OnFailure', false, ok, false],
    ['OnFailure', false, failed, true],
    ['Never', false, failed, false],
    ['Always', true, ok, false], // an init container that succeeded is done
    ['Always', true, failed, true],
    ['Never', true, failed, false],
    ['Always', false, refused, false], // the same request would be refused again
  ];
  for (const [policy, init, ended, expected] of table) {
    t.equal(shouldRestart(policy, init, ended), expected, `${policy}, ${init ? 'init' : 'main'}, ${ended.state ?? 'refused'}`);
  }

  const backoff = { initialSeconds: 10, maxSeconds: 300 };
  const crashed = { startedAtMs: 0, finishedAtMs: 1000 };
  t.same([1, 2, 3, 6, 7, 40].map((n) => backoffMs(n, crashed, backoff) / 1000), [10, 20, 40, 300, 300, 300], 'doubling, capped');
  t.equal(backoffMs(5, { startedAtMs: 0, finishedAtMs: 11 * 60_000 }, backoff), 10_000, 'after a run of 10 minutes or more, from the start again');

  const status = toContainerStatus('main', IMAGE, false, { backoffUntilMs: Date.now() + 5000, message: 'back-off 20s restarting failed container=main' }, { restarts: 2, previous: { ...failed, startedAtMs: 1000, finishedAtMs: 2000, containerId: 'c1' } });
  t.match(status, {
    state: { waiting: { reason: 'CrashLoopBackOff', message: /back-off 20s/ } },
    lastState: { terminated: { exitCode: 1, reason: 'Error', containerID: 'docker://c1' } },
    restartCount: 2,
    ready: false,
  });
});
