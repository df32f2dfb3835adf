/**
 * `nvidia.com/gpu` end to end on a real dockerd with the same fakes as
 * test/gpu/gpu-tasks.test.ts: the fake nvidia-smi of an 8-GPU host and the
 * fake oci-add-hooks runtime (records what it was given, then runs runc).
 * The ping offers the GPUs, a pod's container gets the GPUs it asks for, and
 * GPUs held by a gRPC task are not offered to Kubernetes.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import type { FakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { startFakeGpuHost } from '../helpers/gpu-host.js';
import type { PingAnswer } from '../../src/k8s/node-status.js';
import type { PodStatusAnswer } from '../../src/k8s/pod-supervisor.js';
import { call } from './interlink-client.js';
import { allTerminated, byName, createBody, shellPod, type SimplePod } from './pod-suite.js';

let h: Harness;
let ex: TestExecutor;
let fake: FakeOciAddHooks;
let socket: string;

t.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-k8s-gpu-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const host = await startFakeGpuHost(t, dir);
  ({ h, fake } = host);
  socket = join(dir, 'il.sock');
  ex = await startTestExecutor(t, h, { gpu: host.gpuConfig, interlink: { enabled: true, socketPath: socket } });
});

const gpusOffered = async (): Promise<string | undefined> =>
  (await call(socket, 'GET', '/status', [])).json<PingAnswer>().resources.accelerators.find((a) => a.resourceType === 'nvidia.com/gpu')?.available;

const waitFor = async (pod: SimplePod, done: (s: PodStatusAnswer) => boolean): Promise<PodStatusAnswer> => {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 150))) {
    const s = (await call(socket, 'GET', '/status', [pod])).json<PodStatusAnswer[]>()[0];
    if (s !== undefined && done(s)) return s;
  }
  throw new Error(`pod ${pod.metadata.name} did not get there within 60 s`);
};

t.test('nvidia.com/gpu: offered by the ping, granted to the pod, less what gRPC tasks hold', async (t) => {
  t.equal(await gpusOffered(), '8', 'the host’s 8 GPUs are offered');

  const pod = shellPod('gpus', h.images.busybox, { cuda: 'echo "$NVIDIA_VISIBLE_DEVICES"' }, {}, { resources: { cuda: { limits: { 'nvidia.com/gpu': '2' } } } });
  t.equal((await call(socket, 'POST', '/create', createBody(pod))).status, 200);
  const done = await waitFor(pod, allTerminated);
  const end = byName(done.containers, 'cuda').state.terminated;
  t.equal(end?.exitCode, 0, JSON.stringify(end));
  const record = fake.created(end?.containerID?.replace('docker://', '') ?? '');
  t.ok(record, 'the container was created through the GPU runtime');
  const uuids = (record?.env['NVIDIA_VISIBLE_DEVICES'] ?? '').split(',');
  t.equal(new Set(uuids.filter((u) => u.startsWith('GPU-'))).size, 2, 'two distinct GPUs');
  const logs = await call(socket, 'GET', '/getLogs', { Namespace: 'default', PodUID: pod.metadata.uid, PodName: 'gpus', ContainerName: 'cuda', Opts: {} });
  t.equal(logs.text, `${uuids.join(',')}\n`, 'the container sees its GPUs');
  t.equal((await call(socket, 'POST', '/delete', pod)).status, 200);

  const grpcTask = { taskId: uniqueTaskId('gpu'), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '30'] } }, resources: { gpus: 3 } };
  await ex.launch(grpcTask);
  await ex.waitForState(grpcTask.taskId, 'TASK_STATE_RUNNING');
  t.equal(await gpusOffered(), '5', 'GPUs held outside Kubernetes are not offered to it');
  await ex.kill(grpcTask.taskId, 0);
  await ex.waitForState(grpcTask.taskId, 'terminal');
  t.equal(await gpusOffered(), '8');
  t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container left behind');
});
