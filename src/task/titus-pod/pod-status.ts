import type { StatusUpdate, TaskView } from '../types.js';

/**
 * The pod as titus-executor's backend kept it in state.json: the pod it was
 * given with `status` (and the network annotations) rewritten after every
 * update. Titus' state names (TASK_RUNNING …) are the pod's and the main
 * container's reason, its messages the status message, as the control plane
 * read them (vk/backend/backend.go); unlike that backend, the terminated
 * container state carries the real exit code when there is one.
 */

/** The main container's status is named as titus-executor named it. */
export const MAIN_CONTAINER_STATUS_NAME = 'main';

/** Titus' TitusTaskState names. */
export const titusTaskStateName = (view: Pick<TaskView, 'state' | 'startedAtMs'>): string => {
  switch (view.state) {
    case 'ACCEPTED':
    case 'STARTING':
      return 'TASK_STARTING';
    case 'RUNNING':
      return 'TASK_RUNNING';
    // Titus had no kill-initiated state on the agent: the task is still what it was.
    case 'KILL_INITIATED':
      return view.startedAtMs !== undefined ? 'TASK_RUNNING' : 'TASK_STARTING';
    case 'FINISHED':
      return 'TASK_FINISHED';
    case 'FAILED':
      return 'TASK_FAILED';
    case 'KILLED':
      return 'TASK_KILLED';
    case 'LOST':
      return 'TASK_LOST';
  }
};

const PHASE: Readonly<Record<string, string>> = {
  TASK_STARTING: 'Pending',
  TASK_RUNNING: 'Running',
  TASK_FINISHED: 'Succeeded',
  TASK_FAILED: 'Failed',
  TASK_KILLED: 'Failed',
  TASK_LOST: 'Failed',
};

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const condition = (type: string, ok: boolean, atMs: number | undefined, reason?: string): Record<string, unknown> =>
  defined({ type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: iso(atMs), reason });

const lastWith = <K extends keyof StatusUpdate>(history: readonly StatusUpdate[], key: K): StatusUpdate[K] | undefined => {
  for (let i = history.length - 1; i >= 0; i--) {
    const v = history[i]?.[key];
    if (v !== undefined) return v;
  }
  return undefined;
};

const containerState = (view: TaskView, name: string, message: string): Record<string, unknown> => {
  if (name === 'TASK_STARTING') return { waiting: { reason: name, message } };
  if (name === 'TASK_RUNNING') return { running: defined({ startedAt: iso(view.startedAtMs) }) };
  const exit = lastWith(view.history, 'exit') ?? view.lastUpdate.exit;
  return {
    terminated: defined({
      // -1 when the container never ran or its exit is unknown, as Titus wrote it.
      exitCode: exit?.exitCode ?? -1,
      reason: exit?.oomKilled === true ? 'OOMKilled' : name,
      message,
      startedAt: iso(view.startedAtMs),
      finishedAt: iso(view.finishedAtMs ?? view.lastUpdate.timestampMs),
      containerID: view.containerId !== undefined ? `docker://${view.containerId}` : undefined,
    }),
  };
};

/** The network annotations Titus' backend wrote back, for the control plane to read the addresses. */
const networkAnnotations = (view: TaskView): Record<string, string> => {
  const n = lastWith(view.history, 'network');
  if (n === undefined) return {};
  const out: Record<string, string> = {};
  if (n.ipv4Address) out['network.netflix.com/address-ipv4'] = n.ipv4Address;
  if (n.ipv6Address) out['network.netflix.com/address-ipv6'] = n.ipv6Address;
  const primary = n.ipv4Address || n.ipv6Address;
  if (primary) out['network.netflix.com/address-ip'] = primary;
  if (n.eniId) out['network.netflix.com/branch-eni-id'] = n.eniId;
  if (n.networkMode) out['network.netflix.com/effective-network-mode'] = n.networkMode;
  return out;
};

export interface PodDocument {
  readonly metadata?: { annotations?: Record<string, string> } & Record<string, unknown>;
  readonly spec?: { containers?: Array<{ image?: string } & Record<string, unknown>> } & Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** The pod with the task's current status. */
export const podWithStatus = (pod: PodDocument, view: TaskView): Record<string, unknown> => {
  const name = titusTaskStateName(view);
  const message = view.lastUpdate.message;
  const running = name === 'TASK_RUNNING';
  const terminal = PHASE[name] === 'Succeeded' || PHASE[name] === 'Failed';
  const network = lastWith(view.history, 'network');
  // Titus' PickPrimaryIP: IPv4, else IPv6.
  const podIP = network?.ipv4Address || network?.ipv6Address || undefined;
  const readyAt = running ? view.startedAtMs : terminal ? view.finishedAtMs ?? view.lastUpdate.timestampMs : view.acceptedAtMs;
  const status = defined({
    phase: PHASE[name],
    reason: name,
    message,
    conditions: [
      condition('PodScheduled', true, view.acceptedAtMs),
      condition('Initialized', true, view.acceptedAtMs),
      condition('ContainersReady', running, readyAt, running ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady'),
      condition('Ready', running, readyAt, running ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady'),
    ],
    podIP,
    podIPs: podIP !== undefined ? [{ ip: podIP }] : undefined,
    startTime: iso(view.acceptedAtMs),
    containerStatuses: [
      defined({
        name: MAIN_CONTAINER_STATUS_NAME,
        state: containerState(view, name, message),
        lastState: {},
        ready: running,
        restartCount: 0,
        image: pod.spec?.containers?.[0]?.image ?? view.image,
        imageID: '',
        containerID: view.containerId !== undefined ? `docker://${view.containerId}` : undefined,
        started: running,
      }),
    ],
  });
  const annotations = { ...pod.metadata?.annotations, ...networkAnnotations(view) };
  return { ...pod, metadata: { ...pod.metadata, annotations }, status };
};

/** A pod the executor refused before it became a task: Failed (TASK_FAILED or TASK_LOST), naming what was refused. */
export const refusedPod = (pod: PodDocument, message: string, atMs: number, reason: 'TASK_FAILED' | 'TASK_LOST' = 'TASK_FAILED'): Record<string, unknown> => ({
  ...pod,
  status: {
    phase: 'Failed',
    reason,
    message,
    conditions: [condition('PodScheduled', true, atMs), condition('Initialized', false, atMs, 'InvalidRequest'), condition('ContainersReady', false, atMs, 'PodCompleted'), condition('Ready', false, atMs, 'PodCompleted')],
    startTime: iso(atMs),
    containerStatuses: [
      {
        name: MAIN_CONTAINER_STATUS_NAME,
        state: { terminated: { exitCode: -1, reason, message, finishedAt: iso(atMs) } },
        lastState: {},
        ready: false,
        restartCount: 0,
        image: pod.spec?.containers?.[0]?.image ?? '',
        imageID: '',
        started: false,
      },
    ],
  },
});

