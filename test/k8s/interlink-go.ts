/**
 * interLink's side of the plugin API, for replay tests: request bodies built
 * the way its Go code builds them (a v1.Pod marshalled by encoding/json as the
 * virtual kubelet holds it, RetrievedPodData from its API server, LogStruct),
 * and the answers read the way its virtual kubelet reads them (the pod phase
 * from checkPodsStatus in pkg/virtualkubelet/execute.go; the node from the
 * ping in nodeUpdate, updateNodeResources and updateNodeTaints in
 * pkg/virtualkubelet/virtualkubelet.go). Written from reading interLink's
 * source (Apache-2.0); no code of it is copied.
 */
import type { K8sContainerStatus } from '../../src/k8s/container-status.js';
import type { PingAnswer } from '../../src/k8s/node-status.js';
import type { PodStatusAnswer } from '../../src/k8s/pod-supervisor.js';

export interface GoContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

/** The default token volume the ServiceAccount admission plugin adds to every pod, and its mount. */
export const tokenVolumeName = (uid: string): string => `kube-api-access-${uid.slice(0, 5)}`;
export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A v1.Pod as the API server hands it to the virtual kubelet: defaults filled in, the token volume mounted everywhere. */
export const goPod = (
  name: string,
  uid: string,
  spec: { initContainers?: GoContainer[]; containers: GoContainer[]; restartPolicy?: string; securityContext?: Record<string, unknown> },
  annotations: Record<string, string> = {},
): GoPod => {
  const token = tokenVolumeName(uid);
  const container = (c: GoContainer): Record<string, unknown> => ({
    name: c.name,
    image: c.image,
    ...(c.command !== undefined ? { command: c.command } : {}),
    ...(c.args !== undefined ? { args: c.args } : {}),
    resources: {},
    volumeMounts: [...(c.volumeMounts ?? []), { name: token, readOnly: true, mountPath: TOKEN_MOUNT_PATH }],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    ...(c.securityContext !== undefined ? { securityContext: c.securityContext } : {}),
  });
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace: 'vk-replay',
      uid,
      resourceVersion: '51234',
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { app: name },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      volumes: [
        { name: 'shared', emptyDir: {} },
        {
          name: token,
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
            defaultMode: 420,
          },
        },
      ],
      ...(spec.initContainers !== undefined ? { initContainers: spec.initContainers.map(container) } : {}),
      containers: spec.containers.map(container),
      restartPolicy: spec.restartPolicy ?? 'Never',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: 'titus-vk',
      securityContext: spec.securityContext ?? {},
      schedulerName: 'default-scheduler',
      tolerations: [{ key: 'virtual-node.interlink/no-schedule', operator: 'Exists' }],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
};

export interface GoPod {
  kind: string;
  apiVersion: string;
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string>; [k: string]: unknown };
  spec: { containers: Array<Record<string, unknown>>; initContainers?: Array<Record<string, unknown>>; [k: string]: unknown };
  status: { phase: string; [k: string]: unknown };
}

/** After a successful create the virtual kubelet annotates its copy with the PodJID, and polls with that copy. */
export const withJobId = (pod: GoPod, jobId: string): GoPod => ({ ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, JobID: jobId } } });

/**
 * RetrievedPodData as interLink's API server posts it to /create: one entry per
 * container (init first) with the ConfigMaps, Secrets and resolved projected
 * volumes of its mounts. `resolveToken: false` is interLink 0.3.x, or the
 * virtual kubelet's DisableProjectedVolumes: the token volume is not resolved.
 */
export const goCreateBody = (pod: GoPod, opts: { resolveToken: boolean; configMaps?: unknown[] }): Record<string, unknown> => {
  const token = {
    metadata: { name: tokenVolumeName(pod.metadata.uid), creationTimestamp: null },
    data: { token: 'eyJhbGciOiJSUzI1NiJ9.replay.token', 'ca.crt': '-----BEGIN CERTIFICATE-----\nMIIBreplay\n-----END CERTIFICATE-----\n', namespace: pod.metadata.namespace },
  };
  return {
    pod,
    container: [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => ({
      name: c['name'],
      configMaps: opts.configMaps ?? null,
      projectedvolumemaps: opts.resolveToken ? [token] : null,
      secrets: null,
      emptyDirs: null,
      persistentVolumeClaims: null,
    })),
  };
};

/** v1.Pod as the virtual kubelet sends it to /delete once the API server set its deletion. */
export const goDeleteBody = (pod: GoPod, graceSeconds: number): GoPod => ({
  ...pod,
  metadata: { ...pod.metadata, deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), deletionGracePeriodSeconds: graceSeconds },
  status: { ...pod.status, phase: 'Running' },
});

/** LogStruct: Go sends every field, its zero time for an unset SinceTime. */
export const goLogsBody = (pod: GoPod, container: string, follow: boolean): Record<string, unknown> => ({
  Namespace: pod.metadata.namespace,
  PodUID: pod.metadata.uid,
  PodName: pod.metadata.name,
  ContainerName: container,
  Opts: { Tail: 0, Bytes: 0, Timestamps: false, Follow: follow, Previous: false, SinceSeconds: 0, SinceTime: '0001-01-01T00:00:00Z' },
});

export interface VkPodView {
  /** The phase the virtual kubelet gives the pod (unchanged from `before` when the answer decides nothing). */
  readonly phase: string;
  readonly reason?: string;
  /** The answer was skipped (no pod name): nothing changes. */
  readonly skipped: boolean;
}

/**
 * What checkPodsStatus does with one pod's answer. Init containers: any
 * waiting one keeps the pod waiting unless all have terminated; a running one
 * makes it initialising. Containers count only when no init container waits
 * or runs. The pod fails or succeeds only when every container has
 * terminated; otherwise a running container makes it Running and a waiting
 * one leaves the phase as it was.
 */
export const vkPodPhase = (answer: PodStatusAnswer, before = 'Pending'): VkPodView => {
  if (answer.name === '') return { phase: before, skipped: true };
  const inits = answer.initContainers;
  let initWaiting = false;
  let initRunning = false;
  let initFailed: string | undefined;
  let initTerminated = 0;
  for (const c of inits) {
    const s = c.state;
    if (s.terminated !== undefined) {
      initTerminated++;
      if (s.terminated.exitCode !== 0) initFailed = `Error: ${s.terminated.exitCode}`;
    } else if (s.waiting !== undefined) initWaiting = true;
    else if (s.running !== undefined) initRunning = true;
  }
  if (inits.length > 0 && initTerminated === inits.length) initWaiting = false;
  let terminated = 0;
  let failed: string | undefined;
  let running = false;
  if (!initWaiting && !initRunning) {
    for (const c of answer.containers) {
      const s = c.state;
      if (s.terminated !== undefined) {
        terminated++;
        if (s.terminated.exitCode !== 0) failed = `Error: ${s.terminated.exitCode}`;
      } else if (s.running !== undefined) running = true;
    }
  }
  if (terminated === answer.containers.length) {
    if (failed !== undefined || initFailed !== undefined) return { phase: 'Failed', reason: failed ?? initFailed ?? '', skipped: false };
    return { phase: 'Succeeded', reason: 'Completed', skipped: false };
  }
  if (initRunning) return { phase: 'Pending', reason: 'Init', skipped: false };
  if (initWaiting) return { phase: 'Pending', reason: 'Waiting for init containers', skipped: false };
  if (running) return { phase: 'Running', reason: 'Running', skipped: false };
  return { phase: before, skipped: false };
};

export interface VkNode {
  capacity: Record<string, string>;
  taints: Array<{ key: string; value: string; effect: string }>;
  /** What reaches the cluster through the virtual-kubelet fork's status patch: status and metadata, not spec. */
  pingResponseAnnotation: string;
}

/** The node after one ping answer (interLink >= 0.6.2 reads resources and taints; the fork pushes only status and metadata). */
export const vkApplyPing = (node: VkNode, body: string): VkNode => {
  const ping = JSON.parse(body) as PingAnswer & { taints?: VkNode['taints'] };
  const capacity = { ...node.capacity };
  if (ping.resources !== undefined) {
    if (ping.resources.cpu !== '') capacity['cpu'] = ping.resources.cpu;
    if (ping.resources.memory !== '') capacity['memory'] = ping.resources.memory;
    if (ping.resources.pods !== '') capacity['pods'] = ping.resources.pods;
    for (const a of ping.resources.accelerators) capacity[a.resourceType] = a.available;
  }
  // A nil list leaves taints alone; a list, even empty, replaces all but the system taint.
  const system = node.taints.filter((t) => t.key === 'virtual-node.interlink/no-schedule');
  const taints = ping.taints === undefined ? node.taints : [...system, ...ping.taints];
  return { capacity, taints, pingResponseAnnotation: body };
};

/** Whether the scheduler can place one more pod on a node holding `podsOnNode` (NodeResourcesFit's pod count). */
export const schedulerFitsOneMore = (node: VkNode, podsOnNode: number): boolean => podsOnNode + 1 <= Number(node.capacity['pods'] ?? '0');

export const allStatuses = (s: PodStatusAnswer): K8sContainerStatus[] => [...s.initContainers, ...s.containers];
