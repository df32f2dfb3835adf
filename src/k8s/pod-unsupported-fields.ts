import { invalidArgument, isExecutorError } from '../common/errors.js';
import type { K8sPod } from './pod-schema.js';

/**
 * Every field of a pod's spec, containers, security contexts and volumes, and
 * what this plugin does with it. The pod schema (pod-schema.ts) keeps unknown
 * fields, so without this walk a probe, a host namespace or a volume kind the
 * plugin does not run would be dropped without a word. A field not listed is
 * refused too: a Kubernetes release that adds one must not have it ignored.
 * The table in docs/fields.md lists the same fields (test/unit/field-table.test.ts).
 */
export type FieldRule =
  | { readonly status: 'honoured' }
  /** Refused unless its value asks for nothing (absent, null, false, "", [] or {}) or `accepts` holds. */
  | { readonly status: 'refused'; readonly why: string; readonly accepts?: (v: unknown) => boolean };

const honoured: FieldRule = { status: 'honoured' };
const refused = (why: string, accepts?: (v: unknown) => boolean): FieldRule => (accepts === undefined ? { status: 'refused', why } : { status: 'refused', why, accepts });
const oneOf =
  (...values: readonly unknown[]) =>
  (v: unknown): boolean =>
    values.includes(v);
const typeIs =
  (...types: readonly string[]) =>
  (v: unknown): boolean =>
    typeof v === 'object' && v !== null && types.includes(String((v as Record<string, unknown>)['type']));

/** Scheduler and admission fields: acted on before the pod reached this node; nothing is left for the node to do. */
const scheduled = honoured;

export const POD_SPEC_FIELDS: Readonly<Record<string, FieldRule>> = {
  containers: honoured,
  initContainers: honoured,
  volumes: honoured,
  restartPolicy: honoured,
  terminationGracePeriodSeconds: honoured,
  activeDeadlineSeconds: honoured,
  hostname: honoured,
  securityContext: honoured,
  imagePullSecrets: honoured,
  dnsPolicy: refused('only ClusterFirst and Default are supported: the containers use the host resolver (what the kubelet does for ClusterFirst on a node without cluster DNS)', oneOf('ClusterFirst', 'Default', '')),
  dnsConfig: refused('custom DNS settings are not supported; the containers use the host resolver'),
  nodeName: scheduled,
  nodeSelector: scheduled,
  affinity: scheduled,
  tolerations: scheduled,
  schedulerName: scheduled,
  priority: scheduled,
  priorityClassName: scheduled,
  preemptionPolicy: scheduled,
  topologySpreadConstraints: scheduled,
  overhead: scheduled,
  schedulingGates: scheduled,
  serviceAccountName: scheduled,
  serviceAccount: scheduled,
  automountServiceAccountToken: scheduled,
  enableServiceLinks: honoured,
  os: refused('only linux pods run here', (v) => typeof v === 'object' && v !== null && (v as Record<string, unknown>)['name'] === 'linux'),
  hostNetwork: refused("the host's network namespace is never shared with a task (each pod gets its own network)"),
  hostPID: refused("the host's PID namespace is never shared with a task"),
  hostIPC: refused("the host's IPC namespace is never shared with a task"),
  hostUsers: refused('user namespaces are not supported (hostUsers: false)', oneOf(true)),
  shareProcessNamespace: refused('the containers of a pod do not share a PID namespace'),
  hostAliases: refused('extra /etc/hosts entries are not supported'),
  subdomain: refused('pod subdomains (an FQDN hostname) are not supported'),
  setHostnameAsFQDN: refused('pod subdomains (an FQDN hostname) are not supported'),
  runtimeClassName: refused('containers run with the engine’s runtime; runtime classes are not supported'),
  readinessGates: refused('readiness gates are not reported; the pod would be Ready without them'),
  ephemeralContainers: refused('ephemeral (debug) containers are not supported'),
  resourceClaims: refused('dynamic resource claims are not supported'),
  resources: refused('pod-level resources are not supported; set them on each container'),
};

export const CONTAINER_FIELDS: Readonly<Record<string, FieldRule>> = {
  name: honoured,
  image: honoured,
  command: honoured,
  args: honoured,
  workingDir: honoured,
  env: honoured,
  envFrom: honoured,
  resources: honoured,
  volumeMounts: honoured,
  securityContext: honoured,
  ports: honoured,
  // interLink sends no resize requests to a plugin: the pod's resources are those it was created with.
  resizePolicy: honoured,
  imagePullPolicy: refused('Never is not supported: the image is pulled when the container starts', oneOf('Always', 'IfNotPresent', '')),
  terminationMessagePath: refused('termination messages are not reported; only the default is accepted', oneOf('/dev/termination-log', '')),
  terminationMessagePolicy: refused('termination messages are not reported; only the default is accepted', oneOf('File', '')),
  livenessProbe: refused('probes are not run'),
  readinessProbe: refused('probes are not run'),
  startupProbe: refused('probes are not run'),
  lifecycle: refused('postStart and preStop hooks are not run'),
  restartPolicy: refused('sidecar init containers (restartPolicy Always) are not supported'),
  volumeDevices: refused('block devices are not supported'),
  stdin: refused('no stdin is attached to a container'),
  stdinOnce: refused('no stdin is attached to a container'),
  tty: refused('containers run without a TTY'),
};

/** `ports[]`: containerPort and the rest are informational in Kubernetes; hostPort is not. */
export const CONTAINER_PORT_FIELDS: Readonly<Record<string, FieldRule>> = {
  containerPort: honoured,
  name: honoured,
  protocol: honoured,
  hostPort: refused('host ports are not published'),
  hostIP: refused('host ports are not published'),
};

const idZero = (v: unknown): boolean => v === 0;

export const CONTAINER_SECURITY_CONTEXT_FIELDS: Readonly<Record<string, FieldRule>> = {
  capabilities: honoured,
  readOnlyRootFilesystem: honoured,
  privileged: refused('privileged containers are not supported'),
  runAsUser: refused('is not supported on this host; containers run as the image user (0 is accepted)', idZero),
  runAsGroup: refused('is not supported on this host; containers run as the image user (0 is accepted)', idZero),
  runAsNonRoot: refused('is not checked: containers run as the image user'),
  allowPrivilegeEscalation: refused('containers always run with no-new-privileges; only false is accepted', oneOf(false)),
  seccompProfile: refused('only RuntimeDefault (the engine’s default profile) is supported', typeIs('RuntimeDefault')),
  appArmorProfile: refused('only RuntimeDefault (the engine’s default profile) is supported', typeIs('RuntimeDefault')),
  seLinuxOptions: refused('SELinux labels are not supported'),
  procMount: refused('only the Default /proc mount is supported', oneOf('Default', '')),
  windowsOptions: refused('only linux pods run here'),
};

export const POD_SECURITY_CONTEXT_FIELDS: Readonly<Record<string, FieldRule>> = {
  // A container's own value wins over the pod's; pod-plan.ts refuses the one that applies when it is not root.
  runAsUser: honoured,
  runAsGroup: honoured,
  runAsNonRoot: refused('is not checked: containers run as the image user'),
  fsGroup: refused('volume group ownership (fsGroup) is not supported'),
  fsGroupChangePolicy: refused('volume group ownership (fsGroup) is not supported'),
  supplementalGroups: refused('supplemental groups are not supported'),
  supplementalGroupsPolicy: refused('supplemental groups are not supported'),
  sysctls: refused('pod sysctls are not supported'),
  seccompProfile: refused('only RuntimeDefault (the engine’s default profile) is supported', typeIs('RuntimeDefault')),
  appArmorProfile: refused('only RuntimeDefault (the engine’s default profile) is supported', typeIs('RuntimeDefault')),
  seLinuxOptions: refused('SELinux labels are not supported'),
  seLinuxChangePolicy: refused('SELinux labels are not supported'),
  windowsOptions: refused('only linux pods run here'),
};

/** A volume is its name and one source; the sources this plugin provides. */
export const VOLUME_FIELDS: Readonly<Record<string, FieldRule>> = {
  name: honoured,
  emptyDir: honoured,
  configMap: honoured,
  secret: honoured,
  projected: honoured,
  downwardAPI: honoured,
  nfs: honoured,
  ...Object.fromEntries(
    [
      'hostPath', 'persistentVolumeClaim', 'ephemeral', 'image', 'csi', 'awsElasticBlockStore', 'gcePersistentDisk', 'gitRepo', 'iscsi',
      'glusterfs', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'fc', 'azureFile', 'azureDisk', 'vsphereVolume', 'quobyte',
      'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'storageos',
    ].map((kind) => [kind, refused(`${kind} volumes are not supported`)]),
  ),
};

/** `volumeMounts[]`: bind mounts of the pod's volumes. */
export const VOLUME_MOUNT_FIELDS: Readonly<Record<string, FieldRule>> = {
  name: honoured,
  mountPath: honoured,
  readOnly: honoured,
  subPath: honoured,
  subPathExpr: refused('subPathExpr is not expanded; use subPath'),
  mountPropagation: refused('mount propagation is not supported; only None', oneOf('None', '')),
  recursiveReadOnly: refused('recursive read-only mounts are not supported; Disabled and IfPossible are accepted', oneOf('Disabled', 'IfPossible', '')),
};

/** `resources`: limits (else requests) per resource name; `claims` are dynamic resources. */
export const CONTAINER_RESOURCE_FIELDS: Readonly<Record<string, FieldRule>> = {
  limits: honoured,
  requests: honoured,
  claims: refused('dynamic resource claims are not supported'),
};

/** Resource names in limits and requests. */
export const RESOURCE_NAMES: Readonly<Record<string, FieldRule>> = {
  cpu: honoured,
  memory: honoured,
  'nvidia.com/gpu': honoured,
  'ephemeral-storage': honoured,
};

/** `emptyDir`: a directory of the pod on the host's disk. */
export const EMPTY_DIR_FIELDS: Readonly<Record<string, FieldRule>> = {
  medium: refused('memory-backed emptyDirs are not supported: the directory would be on disk, not in memory', oneOf('')),
  sizeLimit: refused('emptyDir size limits are not enforced'),
};

/** A value that asks for nothing: what Go's omitempty would leave out. */
const asksNothing = (v: unknown): boolean =>
  v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

const checkObject = (obj: unknown, rules: Readonly<Record<string, FieldRule>>, field: string): void => {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return;
  for (const [key, value] of Object.entries(obj)) {
    const rule = rules[key];
    if (rule === undefined) {
      if (asksNothing(value)) continue;
      throw invalidArgument(`${field}.${key}`, 'is not a field this plugin knows, so it would not act on it (docs/fields.md lists the ones it does)');
    }
    if (rule.status === 'honoured') continue;
    // With `accepts`, it alone says which values are fine (hostUsers: false is the one that asks).
    if (rule.accepts === undefined ? asksNothing(value) : value === undefined || value === null || rule.accepts(value)) continue;
    throw invalidArgument(`${field}.${key}`, rule.why);
  }
};

/** A resource the plugin does not give the container (hugepages, extended resources) is refused, whatever its quantity. */
const checkResourceNames = (list: Readonly<Record<string, unknown>> | null | undefined, field: string): void => {
  for (const name of Object.keys(list ?? {})) {
    if (RESOURCE_NAMES[name] === undefined) {
      throw invalidArgument(`${field}.${name}`, 'is not a resource this plugin provides (cpu, memory, nvidia.com/gpu and ephemeral-storage are)');
    }
  }
};

/** Throws INVALID_ARGUMENT naming the first field of the pod that this plugin would not honour. */
export const refuseUnsupportedPodFields = (pod: K8sPod): void => {
  const spec = pod.spec;
  checkObject(spec, POD_SPEC_FIELDS, 'pod.spec');
  checkObject(spec['securityContext'], POD_SECURITY_CONTEXT_FIELDS, 'pod.spec.securityContext');
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    try {
      checkObject(v, VOLUME_FIELDS, `pod.spec.volumes.${i}`);
    } catch (err) {
      // The volume is the field; the message names its source kind (as pod-volumes.ts words it).
      const kind = isExecutorError(err) ? (err.field ?? '').split('.').pop() : undefined;
      throw invalidArgument(`pod.spec.volumes.${i}`, `volume ${v.name}: only emptyDir, configMap, secret, projected, downwardAPI and nfs volumes are supported; ${kind === undefined ? 'it names no volume source' : `${kind} is not`}`);
    }
    checkObject(v.emptyDir, EMPTY_DIR_FIELDS, `pod.spec.volumes.${i}.emptyDir`);
  }
  const containers = [
    ...(spec.initContainers ?? []).map((c, i) => ({ c, field: `pod.spec.initContainers.${i}` })),
    ...spec.containers.map((c, i) => ({ c, field: `pod.spec.containers.${i}` })),
  ];
  for (const { c, field } of containers) {
    checkObject(c, CONTAINER_FIELDS, field);
    checkObject(c.securityContext, CONTAINER_SECURITY_CONTEXT_FIELDS, `${field}.securityContext`);
    for (const [j, m] of (c.volumeMounts ?? []).entries()) checkObject(m, VOLUME_MOUNT_FIELDS, `${field}.volumeMounts.${j}`);
    checkObject(c.resources, CONTAINER_RESOURCE_FIELDS, `${field}.resources`);
    for (const kind of ['limits', 'requests'] as const) checkResourceNames(c.resources?.[kind], `${field}.resources.${kind}`);
    const ports = c['ports'];
    if (Array.isArray(ports)) for (const [j, p] of ports.entries()) checkObject(p, CONTAINER_PORT_FIELDS, `${field}.ports.${j}`);
  }
};
