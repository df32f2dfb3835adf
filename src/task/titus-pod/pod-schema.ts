import { z } from 'zod';

/**
 * The parts of a Kubernetes v1.Pod a Titus control plane wrote to pod.json,
 * as this executor reads them. Objects the executor acts on are strict: a
 * field it does not know is refused by name rather than silently dropped (a
 * probe or a volume that is not honoured would be a lie). Metadata is
 * bookkeeping and kept whole.
 */

const quantity = z.union([z.string(), z.number()]);

/** Fields the executor accepts without acting on them: the scheduler's, already used to place the pod here. */
const informational = z.unknown().optional();

const envVar = z.strictObject({
  name: z.string({ error: 'is required' }).min(1, 'is required'),
  value: z.string().optional(),
  valueFrom: z.unknown().optional(),
});

const resourceList = z.record(z.string(), quantity);

const capabilities = z.strictObject({
  add: z.array(z.string()).optional(),
  drop: z.array(z.string()).optional(),
});

const containerSecurityContext = z.strictObject({
  capabilities: capabilities.optional(),
  privileged: z.literal(false, { error: 'true is not supported (privileged containers are not run)' }).optional(),
});

const falseOnly = (what: string) => z.literal(false, { error: `true is not supported (${what})` }).optional();
const emptyOnly = (what: string) => z.array(z.unknown()).max(0, `must be empty (${what})`).optional();

export const podContainerSchema = z.strictObject({
  name: z.string({ error: 'is required' }).min(1, 'is required'),
  image: z.string({ error: 'is required' }).min(1, 'is required'),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(envVar).optional(),
  workingDir: z.string().optional(),
  resources: z.strictObject({ limits: resourceList.optional(), requests: resourceList.optional() }).optional(),
  securityContext: containerSecurityContext.optional(),
  stdin: falseOnly('no stdin is attached to a task'),
  stdinOnce: falseOnly('no stdin is attached to a task'),
  tty: falseOnly('tasks run without a TTY'),
  volumeMounts: emptyOnly('pod volumes are not supported'),
  // Kubelet bookkeeping a recorded pod carries; what they ask for is what the executor does anyway.
  imagePullPolicy: informational,
  ports: informational,
  terminationMessagePath: informational,
  terminationMessagePolicy: informational,
});

export const podSpecSchema = z.strictObject({
  containers: z.array(z.unknown()).min(1, 'must hold the task\'s container').max(1, 'must hold exactly one container: extra (sidecar) containers are not supported'),
  initContainers: emptyOnly('init containers are not supported'),
  ephemeralContainers: emptyOnly('ephemeral containers are not supported'),
  volumes: emptyOnly('pod volumes are not supported'),
  restartPolicy: z.literal('Never', { error: 'must be Never: a Titus task runs once (the control plane replaces it)' }).optional(),
  terminationGracePeriodSeconds: z.number().int().nonnegative().optional(),
  activeDeadlineSeconds: z.number().int().positive().optional(),
  hostname: z.string().optional(),
  hostNetwork: falseOnly('tasks never share the host network namespace'),
  hostPID: falseOnly('tasks never share the host PID namespace'),
  hostIPC: falseOnly('tasks never share the host IPC namespace'),
  // Placement and identity the control plane and its scheduler used; the pod is on this host already.
  nodeName: informational,
  nodeSelector: informational,
  schedulerName: informational,
  tolerations: informational,
  affinity: informational,
  priority: informational,
  priorityClassName: informational,
  preemptionPolicy: informational,
  topologySpreadConstraints: informational,
  dnsPolicy: informational,
  enableServiceLinks: informational,
  serviceAccountName: informational,
  serviceAccount: informational,
  automountServiceAccountToken: informational,
  securityContext: z.strictObject({}, { error: 'pod-level securityContext settings are not supported' }).optional(),
});

export const podSchema = z.object({
  apiVersion: z.literal('v1', { error: 'must be v1' }).optional(),
  kind: z.literal('Pod', { error: 'must be Pod' }).optional(),
  metadata: z.looseObject({
    name: z.string({ error: 'is required (it is the task id)' }).min(1, 'is required (it is the task id)'),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: podSpecSchema,
  // Whatever status a recorded pod carries is replaced by the executor's.
  status: informational,
});

export type TitusPod = z.infer<typeof podSchema>;
export type PodContainer = z.infer<typeof podContainerSchema>;
export type PodEnvVar = z.infer<typeof envVar>;
