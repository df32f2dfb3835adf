/**
 * GPU tasks end to end on a real dockerd. Fakes, and what they stand for:
 *  - test/fixtures/nvidia-smi/nvidia-smi (FAKE_NVIDIA_SMI_MODE=gpus8) stands for
 *    NVIDIA's nvidia-smi on an 8-GPU host, printing its real CSV/XML formats;
 *    a plain file stands for /dev/nvidia0.
 *  - test/fixtures/oci-add-hooks (registered with the harness dockerd as the
 *    runtime `oci-add-hooks`) stands for Netflix's oci-add-hooks: it records its
 *    arguments and the OCI config's env, merges the executor's hook config
 *    (whose hook here is /bin/true instead of nvidia-container-runtime-hook),
 *    then runs the real runc.
 */
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import type { FakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { startFakeGpuHost } from '../helpers/gpu-host.js';
import { call } from '../../src/cli/client.js';

let h: Harness;
let ex: TestExecutor;
let fake: FakeOciAddHooks;
let dir: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'titus-gpu-'));
  const host = await startFakeGpuHost(t, dir);
  ({ h, fake } = host);
  ex = await startTestExecutor(t, h, { gpu: host.gpuConfig });
});

const test = (name: string, fn: (t: Test) => Promise<void>): void => {
  t.test(name, async (t) => {
    await fn(t);
    t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container left behind');
  });
};

const gpuTask = (gpus: number, command: string[] = ['sh', '-c', 'echo "$NVIDIA_VISIBLE_DEVICES"']) => ({
  taskId: uniqueTaskId('gpu'),
  containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command } },
  resources: { gpus },
});

const hostGpus = async () => call(ex.client.GetHostResources.bind(ex.client), {});

test('GetHostResources reports the inventory from nvidia-smi', async (t) => {
  const r = await hostGpus();
  t.equal(r.total?.gpus, 8);
  t.equal(r.gpus.length, 8);
  t.match(r.gpus[0], { index: 0, uuid: /^GPU-/, name: 'NVIDIA A100-SXM4-80GB', memoryMib: 81920 });
  t.ok(r.status.some((s) => /gpu: 8 GPUs, 0 in use/.test(s)), r.status.join('; '));
  const hooks = JSON.parse(readFileSync(join(dir, 'oci-hooks.json'), 'utf8')) as { hooks: { prestart: Array<{ path: string }> } };
  t.equal(hooks.hooks.prestart[0]?.path, '/bin/true', 'the executor wrote the hook config oci-add-hooks reads');
});

test('a 2-GPU task gets 2 distinct UUIDs through the oci-add-hooks runtime', async (t) => {
  const req = gpuTask(2);
  const updates = await ex.run(req);
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', updates.at(-1)?.message ?? '');
  const task = await ex.get(req.taskId);
  const record = fake.created(task.containerId ?? '');
  t.ok(record, 'the container was created through oci-add-hooks');
  const uuids = (record?.env['NVIDIA_VISIBLE_DEVICES'] ?? '').split(',');
  t.equal(uuids.length, 2);
  t.equal(new Set(uuids).size, 2, 'distinct');
  t.ok(uuids.every((u) => u.startsWith('GPU-')));
  t.equal(record?.env['NVIDIA_DRIVER_CAPABILITIES'], 'all');
  t.equal(record?.env['TITUS_NUM_GPU'], '2');
  t.equal(record?.env['TITUS_OCI_RUNTIME'], 'oci-add-hooks');
  t.equal(task.outputTail?.trim(), uuids.join(','), 'the task sees its GPUs');
  const plain = gpuTask(0, ['sh', '-c', 'echo "$TITUS_NUM_GPU $TITUS_OCI_RUNTIME"']);
  await ex.run(plain);
  const plainTask = await ex.get(plain.taskId);
  t.equal(fake.created(plainTask.containerId ?? ''), undefined, 'a task without GPUs uses the default runtime');
  t.equal(plainTask.outputTail?.trim(), '0 runc');
});

test('two concurrent 4-GPU tasks never share a GPU, and a 9th GPU is refused', async (t) => {
  const a = gpuTask(4, ['sleep', '30']);
  const b = gpuTask(4, ['sleep', '30']);
  await Promise.all([ex.launch(a), ex.launch(b)]);
  await Promise.all([ex.waitForState(a.taskId, 'TASK_STATE_RUNNING'), ex.waitForState(b.taskId, 'TASK_STATE_RUNNING')]);
  const uuidsOf = async (id: string): Promise<string[]> => (fake.created((await ex.get(id)).containerId ?? '')?.env['NVIDIA_VISIBLE_DEVICES'] ?? '').split(',');
  const [ua, ub] = [await uuidsOf(a.taskId), await uuidsOf(b.taskId)];
  t.equal(ua.length, 4);
  t.equal(ub.length, 4);
  t.same(ua.filter((u) => ub.includes(u)), [], 'no GPU in both');
  const ninth = gpuTask(1);
  await t.rejects(ex.launch(ninth), { code: grpc.status.RESOURCE_EXHAUSTED, details: /1 GPUs but only 0 of 8 are free/ });
  await t.rejects(ex.get(ninth.taskId), { code: grpc.status.NOT_FOUND }, 'a refused launch leaves no task');
  await t.rejects(ex.launch(gpuTask(9)), { code: grpc.status.RESOURCE_EXHAUSTED });
  const busy = await hostGpus();
  t.equal(busy.gpus.filter((g) => g.taskId === a.taskId).length, 4, 'GetHostResources names the holder');
  for (const id of [a.taskId, b.taskId]) await ex.kill(id, 0);
  await Promise.all([ex.waitForState(a.taskId, 'terminal'), ex.waitForState(b.taskId, 'terminal')]);
});

test('GPUs come back after FINISHED, FAILED and KILLED', async (t) => {
  const finished = await ex.run(gpuTask(8, ['true']));
  t.equal(finished.at(-1)?.state, 'TASK_STATE_FINISHED');
  const failed = await ex.run(gpuTask(8, ['sh', '-c', 'exit 3']));
  t.equal(failed.at(-1)?.state, 'TASK_STATE_FAILED', 'all 8 were free again after FINISHED');
  const killed = gpuTask(8, ['sleep', '30']);
  await ex.launch(killed);
  await ex.waitForState(killed.taskId, 'TASK_STATE_RUNNING');
  await ex.kill(killed.taskId, 1);
  t.equal((await ex.waitForState(killed.taskId, 'terminal')).at(-1)?.state, 'TASK_STATE_KILLED', 'all 8 free again after FAILED');
  const badImage = await ex.run({ ...gpuTask(8), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, version: 'missing' } });
  t.equal(badImage.at(-1)?.state, 'TASK_STATE_FAILED', 'all 8 free again after KILLED');
  const r = await hostGpus();
  t.equal(r.allocated?.gpus, 0);
  t.ok(r.status.some((s) => /0 in use/.test(s)), 'and after a failure before the container started');
});
