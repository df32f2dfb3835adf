/**
 * activeDeadlineSeconds across an executor restart, without an engine: the
 * deadline is stored with the pod; a pod whose deadline ran out while the
 * executor was down is stopped as soon as it is taken back; and a pod the
 * deadline stopped stays stopped (nothing is launched again) and keeps
 * reading DeadlineExceeded.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { PodStore, type StoredPod } from '../../src/k8s/pod-store.js';
import { PodSupervisor, type PodTasks } from '../../src/k8s/pod-supervisor.js';
import { podTaskId } from '../../src/k8s/pod-names.js';
import { DEADLINE_REASON } from '../../src/k8s/pod-deadline.js';
import type { LaunchSpec, StatusUpdate, TaskView } from '../../src/task/types.js';

const UID = '0c3b7a52-3c0e-4f43-9d0e-6a1e2f1bdead';
const TASK = podTaskId(UID, 'main');

const storedPod = (createdAtMs: number): StoredPod => ({
  version: 1,
  pod: {},
  plan: {
    pod: { uid: UID, name: 'p', namespace: 'default' },
    graceSeconds: 1,
    restartPolicy: 'Never',
    activeDeadlineSeconds: 5,
    containers: [
      {
        name: 'main',
        init: false,
        taskId: TASK,
        image: 'busybox',
        launch: { taskId: TASK, containerInfo: {}, resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 }, labels: {} },
      },
    ],
  },
  createdAtMs,
  launched: ['main'],
  ended: {},
});

/** The task core as a pod sees it: one running task; kills and launches are recorded. */
const fakeTasks = (startedAtMs: number): PodTasks & { kills: string[]; launches: string[] } => {
  const update = { taskId: TASK, sequence: 2, timestampMs: startedAtMs, state: 'RUNNING', message: 'running', titusState: 'Started', reasonCode: 'normal' };
  const view = { taskId: TASK, state: 'RUNNING', history: [update], lastUpdate: update, startedAtMs, acceptedAtMs: startedAtMs } as unknown as TaskView;
  const kills: string[] = [];
  const launches: string[] = [];
  return {
    kills,
    launches,
    get: () => view,
    kill: (taskId: string, reason: string) => {
      kills.push(`${taskId}: ${reason}`);
      return view;
    },
    launch: (spec: LaunchSpec) => {
      launches.push(spec.taskId);
      return view;
    },
  };
};

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (cond()) return;
  throw new Error(`not ${what} within 5 s`);
};

t.test('a pod whose deadline ran out while the executor was down is stopped when taken back, and stays stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-deadline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new PodStore(dir, silentLogger());
  const created = Date.now() - 10_000; // a 5-second deadline, 10 seconds ago
  await store.save(storedPod(created));
  const [back] = store.loadAll();
  t.equal(back?.plan.activeDeadlineSeconds, 5, 'the deadline is stored with the pod');

  const tasks = fakeTasks(created + 1000);
  const deps = { tasks, store, log: silentLogger(), restartBackoff: { initialSeconds: 10, maxSeconds: 300 } };
  const first = new PodSupervisor(back as StoredPod, deps);
  first.start();
  await until(() => tasks.kills.length === 1, 'killed');
  t.match(tasks.kills[0], /DeadlineExceeded/, 'the running container is killed, saying why');
  const killed: StatusUpdate = {
    taskId: TASK, sequence: 3, timestampMs: Date.now(), state: 'KILLED', message: 'killed', titusState: 'Finished', reasonCode: 'killed', exit: { exitCode: 137, oomKilled: false },
  } as StatusUpdate;
  first.onUpdate(killed);
  const status = first.status().containers[0]?.state.terminated;
  t.equal(status?.reason, DEADLINE_REASON);
  t.equal(status?.exitCode, 137);
  first.halt();
  await until(() => {
    const saved = store.loadAll()[0];
    return (saved?.deadlineExceededAtMs ?? 0) > 0 && saved?.ended['main'] !== undefined;
  }, 'stored');

  // Taken back again: nothing more runs, and it still reads DeadlineExceeded.
  const [again] = store.loadAll();
  const tasks2 = fakeTasks(created + 1000);
  const second = new PodSupervisor(again as StoredPod, { ...deps, tasks: tasks2 });
  second.start();
  await new Promise((r) => setTimeout(r, 200));
  t.same(tasks2.launches, [], 'nothing is launched again');
  t.equal(second.status().containers[0]?.state.terminated?.reason, DEADLINE_REASON);
  second.halt();
});
