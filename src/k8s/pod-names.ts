/**
 * How a pod's containers are named on this host. Every container of a pod is
 * one executor task whose id is derived from the pod UID and the container
 * name alone, so a repeated /create, a /status or a restarted executor finds
 * the same task without any other index.
 */

/** The labels kubelet's Docker integration used; tools that read them keep working. */
export const POD_LABEL = {
  uid: 'io.kubernetes.pod.uid',
  name: 'io.kubernetes.pod.name',
  namespace: 'io.kubernetes.pod.namespace',
  container: 'io.kubernetes.container.name',
  /** `init` or `main`. */
  kind: 'titus.executor.k8s.container-kind',
} as const;

/**
 * `k8s-<uid>.<container>`: a valid task id and Docker container name (at most
 * 4 + 59 + 1 + 63 characters), unambiguous because container names have no dot.
 */
export const podTaskId = (podUid: string, containerName: string): string => `k8s-${podUid}.${containerName}`;

/** The task of a container's run: the first is podTaskId, restart N is `<podTaskId>.<N>`. */
export const runTaskId = (firstTaskId: string, restarts: number): string => (restarts === 0 ? firstTaskId : `${firstTaskId}.${restarts}`);

const POD_TASK_RE = /^k8s-([^.]+)\.([^.]+)(?:\.(\d+))?$/;

/** The pod, container and run a task id names; undefined for a task that is no pod's. */
export const parsePodTaskId = (taskId: string): { podUid: string; container: string; restarts: number } | undefined => {
  const m = POD_TASK_RE.exec(taskId);
  if (m === null) return undefined;
  return { podUid: m[1] ?? '', container: m[2] ?? '', restarts: Number(m[3] ?? 0) };
};

export interface PodIdentity {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
}

/** Labels on the task and on its container, so both say which pod they belong to. */
export const podContainerLabels = (pod: PodIdentity, containerName: string, init: boolean): Record<string, string> => ({
  [POD_LABEL.uid]: pod.uid,
  [POD_LABEL.name]: pod.name,
  [POD_LABEL.namespace]: pod.namespace,
  [POD_LABEL.container]: containerName,
  [POD_LABEL.kind]: init ? 'init' : 'main',
});
