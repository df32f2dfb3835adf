/**
 * Titus' per-task backend contract end to end: `titus-executor run-task
 * --runtime-dir DIR` runs the v1.Pod in DIR/pod.json as a real container on
 * the harness engine and keeps DIR/state.json (the pod with its status)
 * current. Each recorded pod (test/fixtures/titus-pods) runs through it; the
 * GPU pod on the fake GPU host (test/helpers/gpu-host.ts), the service pod
 * with the local network driver in a namespace the test creates.
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { GENEROUS_HOST, startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { startFakeGpuHost } from '../helpers/gpu-host.js';
import { createHostNetns } from '../vpc/fixtures/netns.js';
import { localNetwork } from '../network/fixtures/tasks.js';
import { assertBuilt, spawnRunTask, type RunTaskProcess } from '../cli/run-task-process.js';
import type { Harness } from '../harness/index.js';
import { runnablePod, type Pod, type PodFixture } from './fixtures.js';
import { stepsOf, watchState, type PodState } from './state-watch.js';

let h: Harness;
let dir: string;
let plainConfig: string;
let networkConfig: string;
const running = new Set<RunTaskProcess>();

t.before(async () => {
  assertBuilt();
  dir = mkdtempSync(join(tmpdir(), 'titus-pod-run-'));
  const gpu = await startFakeGpuHost(t, dir);
  h = gpu.h;
  const hostNs = await createHostNetns(t);
  const base = { executorId: `test-${h.runId}`, logLevel: 'info', docker: { host: h.dockerHost, pullAttempts: 2, pullBackoffMs: 100 }, gpu: gpu.gpuConfig, host: GENEROUS_HOST };
  plainConfig = join(dir, 'config.yaml');
  writeFileSync(plainConfig, toYaml(base));
  networkConfig = join(dir, 'config-network.yaml');
  writeFileSync(networkConfig, toYaml({ ...base, network: localNetwork(hostNs) }));
});

t.teardown(() => {
  for (const p of running) p.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const runTaskDir = (): string => join(dir, 'run-task');

/** Writes pod.json into a fresh runtime dir (0755, as a caller may make it) and starts run-task on it. */
const start = (pod: Pod | string, config = plainConfig): { runtimeDir: string; p: RunTaskProcess } => {
  const runtimeDir = join(dir, `default__${typeof pod === 'string' ? uniqueTaskId('raw') : pod.metadata.name}`);
  mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
  writeFileSync(join(runtimeDir, 'pod.json'), typeof pod === 'string' ? pod : JSON.stringify(pod, null, 2));
  const p = spawnRunTask(['--config', config, '--runtime-dir', runtimeDir, '--run-task-dir', runTaskDir()]);
  running.add(p);
  void p.exit.then(() => running.delete(p));
  return { runtimeDir, p };
};

/** Runs a recorded pod to its end; returns every state.json seen and the process' exit. */
const runToEnd = async (t: Test, fixture: PodFixture, config = plainConfig) => {
  const taskId = uniqueTaskId(fixture);
  const pod = runnablePod(fixture, taskId, h.images.busybox);
  const { runtimeDir, p } = start(pod, config);
  const watch = watchState(runtimeDir);
  const exit = await p.exit;
  watch.stop();
  t.same(watch.torn, [], 'state.json was never seen half-written');
  const last = watch.seen.at(-1);
  if (last === undefined) throw new Error(`no state.json; stderr:\n${exit.stderr}`);
  t.equal(exit.code, 0, `exit 0 once the end is in state.json (as titus-executor-backend)${exit.code === 0 ? '' : `; stderr:\n${exit.stderr.slice(-2000)}`}`);
  t.equal(last.metadata.name, taskId, 'state.json is the pod');
  return { taskId, pod, runtimeDir, seen: watch.seen, last, exit };
};

const privateFiles = (t: Test, runtimeDir: string): void => {
  t.equal(statSync(runtimeDir).mode & 0o777, 0o700, 'the runtime dir is 0700');
  t.equal(statSync(join(runtimeDir, 'state.json')).mode & 0o777, 0o600, 'state.json is 0600');
  t.match(readFileSync(join(runtimeDir, 'state.json'), 'utf8'), /^\{\n {2}"apiVersion": "v1",\n/, 'indented JSON, the pod first');
};

t.test('batch job: Pending, Running, Succeeded with exit code 0 and the pod as it came', async (t) => {
  const { seen, last, runtimeDir, pod } = await runToEnd(t, 'batch-job');
  t.same(stepsOf(seen), ['Pending/TASK_STARTING/waiting', 'Running/TASK_RUNNING/running', 'Succeeded/TASK_FINISHED/terminated']);
  const main = last.status.containerStatuses[0];
  t.equal(main?.name, 'main', 'the main container’s status is named main, as Titus named it');
  t.equal(main?.state.terminated?.exitCode, 0);
  t.equal(main?.state.terminated?.reason, 'TASK_FINISHED');
  t.equal(last.status.message, 'main container successfully finished with exit code 0', 'Titus’ wording');
  t.match(main?.containerID, /^docker:\/\/[0-9a-f]{64}$/);
  t.ok(main?.state.terminated?.startedAt !== undefined && main.state.terminated.finishedAt >= main.state.terminated.startedAt, 'started and finished times');
  t.same(last.status.conditions.map((c) => `${c.type}=${c.status}`), ['PodScheduled=True', 'Initialized=True', 'ContainersReady=False', 'Ready=False']);
  const running = seen.find((s) => s.status.phase === 'Running');
  t.equal(running?.status.containerStatuses[0]?.ready, true, 'ready while running');
  t.equal(running?.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  t.same((last as unknown as Pod).spec, pod.spec, 'the spec is kept as it came');
  t.equal(last.metadata.annotations?.['workload.netflix.com/name'], 'nightlyreport', 'annotations kept');
  t.equal(last.status.podIP, undefined, 'no pod IP without networking');
  privateFiles(t, runtimeDir);
});

t.test('schema-0 pod (containerInfo annotation): Failed with the exit code and Titus’ message', async (t) => {
  const { seen, last, runtimeDir } = await runToEnd(t, 'container-info-v0');
  t.same(stepsOf(seen), ['Pending/TASK_STARTING/waiting', 'Running/TASK_RUNNING/running', 'Failed/TASK_FAILED/terminated']);
  t.equal(last.status.containerStatuses[0]?.state.terminated?.exitCode, 7);
  t.equal(last.status.message, 'main container exited with code 7');
  privateFiles(t, runtimeDir);
});

t.test('role and passthrough attributes reach the container (its script checks them and exits 0)', async (t) => {
  const { seen, last } = await runToEnd(t, 'role-and-passthrough');
  t.same(stepsOf(seen), ['Pending/TASK_STARTING/waiting', 'Running/TASK_RUNNING/running', 'Succeeded/TASK_FINISHED/terminated']);
  t.equal(last.status.containerStatuses[0]?.state.terminated?.exitCode, 0, 'TITUS_BATCH=idle inside: sched-policy idle was honoured');
});

t.test('GPU job on the fake GPU host: one GPU, visible to the container', async (t) => {
  const { seen, last } = await runToEnd(t, 'gpu-job');
  t.same(stepsOf(seen), ['Pending/TASK_STARTING/waiting', 'Running/TASK_RUNNING/running', 'Succeeded/TASK_FINISHED/terminated']);
  t.equal(last.status.containerStatuses[0]?.state.terminated?.exitCode, 0, 'TITUS_NUM_GPU=1 and NVIDIA_VISIBLE_DEVICES set inside');
});

t.test('service job: an address from the network driver in state.json; SIGUSR1 kills it (Failed, TASK_KILLED)', async (t) => {
  const taskId = uniqueTaskId('service-job');
  const { runtimeDir, p } = start(runnablePod('service-job', taskId, h.images.busybox), networkConfig);
  const watch = watchState(runtimeDir);
  const up = await watch.until((s) => s.status.phase === 'Running');
  t.match(up.status.podIP, /^198\.18\.20\.\d+$/, 'the pod IP is the task’s address');
  t.same(up.status.podIPs, [{ ip: up.status.podIP }]);
  t.equal(up.metadata.annotations?.['network.netflix.com/address-ipv4'], up.status.podIP, 'and written back as Titus’ network annotation');
  t.equal(up.metadata.annotations?.['network.netflix.com/effective-network-mode'], 'Ipv4Only');
  p.child.kill('SIGUSR1');
  const exit = await p.exit;
  watch.stop();
  t.equal(exit.code, 0);
  const last = watch.seen.at(-1);
  t.equal(last?.status.phase, 'Failed');
  t.equal(last?.status.reason, 'TASK_KILLED');
  t.match(last?.status.message, /killed on behalf of the control plane: titus-executor received SIGUSR1/);
  t.equal(last?.status.containerStatuses[0]?.state.terminated?.exitCode, 143, 'its TERM trap ran: it got the stop signal, not SIGKILL');
  t.equal(last?.status.podIP, up.status.podIP, 'the address stays in the final status');
  t.same(watch.torn, []);
});

t.test('SIGTERM kills with the pod’s grace period; the daemon lists the task meanwhile', async (t) => {
  const daemon = await startTestExecutor(t, h, { runTaskDir: runTaskDir() });
  const taskId = uniqueTaskId('grace');
  const pod = runnablePod('batch-job', taskId, h.images.busybox);
  pod.spec.containers[0] = { ...pod.spec.containers[0], image: h.images.busybox, args: ["trap '' TERM; sleep 300"] };
  pod.spec['terminationGracePeriodSeconds'] = 2;
  const { runtimeDir, p } = start(pod);
  const watch = watchState(runtimeDir);
  await watch.until((s) => s.status.phase === 'Running');
  const listed = await daemon.get(taskId);
  t.equal(listed.state, 'TASK_STATE_RUNNING', 'GetTask on the daemon finds the pod’s task');
  t.equal(listed.labels?.['titus.executor.mode'], 'run-task');
  t.equal(listed.labels?.['v3.job.titus.netflix.com/job-id'], pod.metadata.labels?.['v3.job.titus.netflix.com/job-id'], 'with the pod’s labels');
  const signalled = Date.now();
  p.child.kill('SIGTERM');
  const exit = await p.exit;
  const tookMs = Date.now() - signalled;
  watch.stop();
  t.equal(exit.code, 0);
  t.ok(tookMs >= 2000, `the container had its 2 s grace period (${tookMs} ms)`);
  const last = watch.seen.at(-1);
  t.equal(last?.status.reason, 'TASK_KILLED');
  t.equal(last?.status.containerStatuses[0]?.state.terminated?.exitCode, 137, 'SIGKILL after the grace period');
  t.equal((await daemon.get(taskId)).state, 'TASK_STATE_KILLED', 'the daemon sees the end too');
});

t.test('an unsupported annotation: the pod is refused in state.json naming it, exit 0, no container', async (t) => {
  const taskId = uniqueTaskId('refused');
  const pod = runnablePod('batch-job', taskId, h.images.busybox);
  pod.metadata.annotations = { ...pod.metadata.annotations, 'security.netflix.com/workload-metadata': 'opaque' };
  const { runtimeDir, p } = start(pod);
  const exit = await p.exit;
  t.equal(exit.code, 0, exit.stderr);
  const state = JSON.parse(readFileSync(join(runtimeDir, 'state.json'), 'utf8')) as PodState;
  t.equal(state.status.phase, 'Failed');
  t.equal(state.status.reason, 'TASK_FAILED');
  t.match(state.status.message, /^Error encountered before even starting the container: metadata\.annotations\["security\.netflix\.com\/workload-metadata"\]: is not supported/);
  t.equal(state.status.containerStatuses[0]?.state.terminated?.exitCode, -1);
  privateFiles(t, runtimeDir);
  const ps = await h.docker(['ps', '-aq', '--filter', `name=${taskId}`]);
  t.equal(ps.stdout.trim(), '', 'no container was made');
});

t.test('no readable pod.json: exit 1 and no state.json, as titus-executor-backend', async (t) => {
  const { runtimeDir, p } = start('{"metadata": ');
  const exit = await p.exit;
  t.equal(exit.code, 1);
  t.match(exit.stderr, /pod\.json is not JSON/);
  t.throws(() => statSync(join(runtimeDir, 'state.json')), 'no state.json');
  const missing = spawnRunTask(['--config', plainConfig, '--runtime-dir', join(dir, 'nowhere', 'x'), '--run-task-dir', runTaskDir()]);
  const gone = await missing.exit;
  t.equal(gone.code, 1);
  t.match(gone.stderr, /pod\.json/);
});

t.test('state.json that cannot be written: the task is killed and run-task exits 1', async (t) => {
  const taskId = uniqueTaskId('unwritable');
  const pod = runnablePod('batch-job', taskId, h.images.busybox);
  pod.spec.containers[0] = { ...pod.spec.containers[0], image: h.images.busybox, args: ['sleep 300'] };
  // A directory where state.json goes: the atomic rename onto it fails.
  mkdirSync(join(dir, `default__${taskId}`, 'state.json'), { recursive: true });
  const { p } = start(pod);
  const exit = await p.exit;
  t.equal(exit.code, 1);
  t.match(exit.stderr, /cannot write state\.json/);
  t.ok(p.updates.some((u) => u.state === 'TASK_STATE_KILLED'), 'the task was killed rather than left running unobserved');
  const ps = await h.docker(['ps', '-aq', '--filter', `name=${taskId}`]);
  t.equal(ps.stdout.trim(), '', 'no container left');
});

t.test('--runtime-dir does not go with --task-id, --container-info or --state-file', async (t) => {
  const p = spawnRunTask(['--config', plainConfig, '--runtime-dir', join(dir, 'clash'), '--task-id', 'x', '--run-task-dir', runTaskDir()]);
  const exit = await p.exit;
  t.equal(exit.code, 2);
  t.match(exit.stderr, /--task-id does not go with --runtime-dir/);
});
