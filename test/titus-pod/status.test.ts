/**
 * The pod status written to state.json, from task views the run-task tests
 * cannot easily produce: a kill in progress, an OOM kill, a task lost before
 * its container ran, an address written back.
 */
import t from 'tap';
import { podWithStatus, refusedPod } from '../../src/task/titus-pod/pod-status.js';
import type { StatusUpdate, TaskState, TaskView } from '../../src/task/types.js';

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'task-1', annotations: { a: 'b' } }, spec: { containers: [{ name: 'main', image: 'repo/app:1' }] } };

const update = (state: TaskState, extra: Partial<StatusUpdate> = {}): StatusUpdate => ({
  taskId: 'task-1',
  sequence: 1,
  timestampMs: Date.UTC(2026, 0, 1, 0, 0, 9),
  state,
  message: `now ${state}`,
  titusState: '',
  reasonCode: 'normal',
  ...extra,
});

const view = (state: TaskState, extra: Partial<TaskView> = {}, history: StatusUpdate[] = []): TaskView => ({
  taskId: 'task-1',
  state,
  resources: { cpu: 1, memoryMb: 64, diskMb: 0, networkMbps: 0, gpus: 0 },
  containerInfo: {},
  labels: {},
  image: 'repo/app:1',
  lastUpdate: update(state),
  history: [...history, update(state)],
  acceptedAtMs: Date.UTC(2026, 0, 1),
  ...extra,
});

type Status = { phase: string; reason: string; podIP?: string; containerStatuses: Array<{ state: Record<string, Record<string, unknown>> }> };
const statusOf = (doc: Record<string, unknown>): Status => doc['status'] as Status;

t.test('a kill in progress keeps the phase the task had', async (t) => {
  t.match(statusOf(podWithStatus(pod, view('KILL_INITIATED'))), { phase: 'Pending', reason: 'TASK_STARTING' }, 'before the container ran');
  t.match(statusOf(podWithStatus(pod, view('KILL_INITIATED', { startedAtMs: Date.UTC(2026, 0, 1, 0, 0, 1) }))), { phase: 'Running', reason: 'TASK_RUNNING' }, 'after');
});

t.test('terminated: the real exit code, OOMKilled as Kubernetes says it, -1 when it never ran', async (t) => {
  const oom = podWithStatus(pod, view('FAILED', { startedAtMs: Date.UTC(2026, 0, 1, 0, 0, 1), finishedAtMs: Date.UTC(2026, 0, 1, 0, 0, 9) }, [update('RUNNING', { exit: { exitCode: 137, oomKilled: true } })]));
  t.match(statusOf(oom).containerStatuses[0]?.state['terminated'], { exitCode: 137, reason: 'OOMKilled', startedAt: '2026-01-01T00:00:01Z', finishedAt: '2026-01-01T00:00:09Z' });
  const lost = podWithStatus(pod, view('LOST'));
  t.match(statusOf(lost), { phase: 'Failed', reason: 'TASK_LOST' });
  t.equal(statusOf(lost).containerStatuses[0]?.state['terminated']?.['exitCode'], -1);
});

t.test('the address: pod IP, podIPs and Titus’ network annotations, the pod’s own annotations kept', async (t) => {
  const doc = podWithStatus(pod, view('RUNNING', { startedAtMs: 1 }, [update('STARTING', { network: { isRoutableIp: false, ipv4Address: '198.18.20.7', networkMode: 'Ipv4Only' } })]));
  t.equal(statusOf(doc).podIP, '198.18.20.7');
  t.same((doc['metadata'] as { annotations: Record<string, string> }).annotations, {
    a: 'b',
    'network.netflix.com/address-ipv4': '198.18.20.7',
    'network.netflix.com/address-ip': '198.18.20.7',
    'network.netflix.com/effective-network-mode': 'Ipv4Only',
  });
  t.same(pod.metadata.annotations, { a: 'b' }, 'the given pod is not changed');
});

t.test('a refused pod is Failed with the refusal as its message', async (t) => {
  const doc = refusedPod(pod, 'Error encountered before even starting the container: x: y', Date.UTC(2026, 0, 1), 'TASK_LOST');
  t.match(statusOf(doc), { phase: 'Failed', reason: 'TASK_LOST' });
  t.match(statusOf(doc).containerStatuses[0]?.state['terminated'], { exitCode: -1, reason: 'TASK_LOST', message: /x: y$/ });
});
