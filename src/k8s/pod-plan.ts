import type { DefaultResources } from '../config/config.js';
import { invalidArgument } from '../common/errors.js';
import { hostnameFor } from '../task/build-container-spec.js';
import type { ContainerInfo } from '../task/container-info.js';
import type { LaunchSpec, TaskResources } from '../task/types.js';
import { buildPodEnv, expandVars } from './pod-env.js';
import { podContainerLabels, podTaskId, type PodIdentity } from './pod-names.js';
import type { CreateRequest, K8sConfigMap, K8sContainer, K8sPod, K8sSecret } from './pod-schema.js';
import { containerMounts, containerNfsMounts, materializeVolumes, type VolumeData } from './pod-volumes.js';
import { writePullAuths } from './pod-pull-secrets.js';
import { parseQuantity } from '../task/quantity.js';
import { imageFields } from '../task/image-fields.js';

export { imageFields };
import { RESTART_POLICIES, type RestartPolicy } from './restart-policy.js';
import { refuseUnsupportedPodFields } from './pod-unsupported-fields.js';

const MiB = 1024 * 1024;
/** Kubernetes' default grace period when the pod does not set one. */
export const DEFAULT_GRACE_SECONDS = 30;
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** One container of a pod as one executor task. */
export interface PlannedContainer {
  readonly name: string;
  readonly init: boolean;
  readonly taskId: string;
  /** The image as the pod names it, reported back in the container status. */
  readonly image: string;
  readonly launch: LaunchSpec;
}

/** Everything needed to run the pod, kept so that a restarted executor can carry on. */
export interface PodPlan {
  readonly pod: PodIdentity;
  readonly graceSeconds: number;
  /** When a container that ended runs again. */
  readonly restartPolicy: RestartPolicy;
  /** Init containers in order, then the containers. */
  readonly containers: readonly PlannedContainer[];
  /** The pod is stopped and reported Failed (DeadlineExceeded) this long after it was created here. */
  readonly activeDeadlineSeconds?: number;
  /** What the pod asked for that it runs without, logged at create. */
  readonly warnings?: readonly string[];
}

export const podIdentity = (pod: K8sPod): PodIdentity => ({
  uid: pod.metadata.uid,
  name: pod.metadata.name,
  namespace: pod.metadata.namespace ?? 'default',
});

/** deletionGracePeriodSeconds (set by the API server on delete) wins over the spec's. */
export const graceSecondsOf = (pod: {
  metadata: { deletionGracePeriodSeconds?: number | null | undefined };
  spec?: { terminationGracePeriodSeconds?: number | null | undefined } | null | undefined;
}): number | undefined => pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? undefined;

/**
 * Turns an interLink create request into one launch per container: writes the
 * pod's volumes under `volumesDir`, resolves env, resources and the image.
 * Throws INVALID_ARGUMENT naming the field for anything it cannot honour.
 */
export const planPod = async (req: CreateRequest, volumesDir: string, defaults: DefaultResources): Promise<PodPlan> => {
  const { pod } = req;
  const identity = podIdentity(pod);
  const data = collectData(req);
  const inits = pod.spec.initContainers ?? [];
  const all = [
    ...inits.map((c, i) => ({ c, init: true, field: `pod.spec.initContainers.${i}` })),
    ...pod.spec.containers.map((c, i) => ({ c, init: false, field: `pod.spec.containers.${i}` })),
  ];
  const names = new Set<string>();
  for (const { c, field } of all) {
    if (names.has(c.name)) throw invalidArgument(`${field}.name`, `container name ${c.name} is used twice in the pod`);
    names.add(c.name);
    refuseUnsupported(c, field, pod);
  }
  refuseMeshAnnotations(pod);
  refuseUnsupportedPodFields(pod);
  const skipped = await materializeVolumes(volumesDir, pod, data);
  const pullAuthsFile = await writePullAuths(volumesDir, pod, data.secrets);
  const graceSeconds = graceSecondsOf(pod) ?? DEFAULT_GRACE_SECONDS;
  const hostname = hostnameFor(pod.spec.hostname ?? identity.name);
  const containers: PlannedContainer[] = [];
  for (const { c, init, field } of all) {
    const resources = resourcesFor(c, defaults, field);
    const env = buildPodEnv({ pod, container: c, data, cpu: resources.cpu, memoryBytes: resources.memoryMb * MiB, field });
    const mounts = await containerMounts(volumesDir, pod, c, field, skipped.names);
    const nfsMounts = containerNfsMounts(pod, c, field);
    const labels = podContainerLabels(identity, c.name, init);
    const taskId = podTaskId(identity.uid, c.name);
    const containerInfo: ContainerInfo = {
      ...imageFields(c.image),
      process: {
        ...(c.command ? { entrypoint: c.command.map((a) => expandVars(a, env)) } : {}),
        ...(c.args ? { command: c.args.map((a) => expandVars(a, env)) } : {}),
      },
      userProvidedEnv: env,
      killWaitSeconds: graceSeconds,
      ...capabilities(c),
      ...(nfsMounts.length > 0 ? { efsConfigInfo: nfsMounts } : {}),
    };
    const launch: LaunchSpec = {
      taskId,
      containerInfo,
      resources,
      labels,
      containerLabels: labels,
      hostname,
      // The pod's containers share localhost and the hostname, as under a kubelet.
      sharedNetwork: { key: identity.uid, hostname },
      ...(c.workingDir ? { workingDir: c.workingDir } : {}),
      ...(mounts.length > 0 ? { mounts } : {}),
      ...(pullAuthsFile !== undefined ? { pullAuthsFile } : {}),
      ...(c.securityContext?.['readOnlyRootFilesystem'] === true ? { readOnlyRootFilesystem: true } : {}),
    };
    containers.push({ name: c.name, init, taskId, image: c.image, launch });
  }
  return {
    pod: identity,
    graceSeconds,
    restartPolicy: restartPolicyOf(pod.spec.restartPolicy),
    ...(typeof pod.spec.activeDeadlineSeconds === 'number' ? { activeDeadlineSeconds: pod.spec.activeDeadlineSeconds } : {}),
    containers,
    ...(skipped.warnings.length > 0 ? { warnings: skipped.warnings } : {}),
  };
};

/** The API server always sets it; absent, Kubernetes' default applies. */
const restartPolicyOf = (value: string | null | undefined): RestartPolicy => {
  if (value === undefined || value === null || value === '') return 'Always';
  const policy = RESTART_POLICIES.find((p) => p === value);
  if (policy === undefined) throw invalidArgument('pod.spec.restartPolicy', `must be one of ${RESTART_POLICIES.join(', ')}, not ${JSON.stringify(value)}`);
  return policy;
};

/** The ConfigMaps, Secrets and resolved projected volumes sent with any of the pod's containers. */
const collectData = (req: CreateRequest): VolumeData => {
  const configMaps = new Map<string, K8sConfigMap>();
  const secrets = new Map<string, K8sSecret>();
  const projected = new Map<string, K8sConfigMap>();
  for (const c of req.container ?? []) {
    for (const cm of c.configMaps ?? []) configMaps.set(cm.metadata.name, cm);
    for (const s of c.secrets ?? []) secrets.set(s.metadata.name, s);
    for (const p of c.projectedvolumemaps ?? []) projected.set(p.metadata.name, p);
  }
  return { configMaps, secrets, projected };
};

/** Docker takes only an absolute working directory; a relative one is the pod's mistake to fix. */
const workingDirOf = (dir: string, field: string): string => {
  if (!dir.startsWith('/') || dir.includes('\0')) throw invalidArgument(field, `must be an absolute path, not ${JSON.stringify(dir)}`);
  return dir;
};

/**
 * Fields that would change what the program does and that this host cannot
 * honour yet are refused rather than silently ignored.
 */
const refuseUnsupported = (c: K8sContainer, field: string, pod: K8sPod): void => {
  if (c.workingDir) workingDirOf(c.workingDir, `${field}.workingDir`);
  const sc = c.securityContext as Record<string, unknown> | null | undefined;
  const podSc = pod.spec['securityContext'] as Record<string, unknown> | null | undefined;
  if (sc?.['privileged'] === true) throw invalidArgument(`${field}.securityContext.privileged`, 'privileged containers are not supported');
  for (const key of ['runAsUser', 'runAsGroup'] as const) {
    // The container's setting wins over the pod's, as in Kubernetes; either one that is not root is refused.
    const own = sc?.[key];
    const [v, where] = own !== undefined && own !== null ? [own, `${field}.securityContext.${key}`] : [podSc?.[key], `pod.spec.securityContext.${key}`];
    if (v !== undefined && v !== null && v !== 0) throw invalidArgument(where, 'is not supported on this host; containers run as the image user');
  }
};

/**
 * interLink's mesh networking (wstunnel/WireGuard) asks the plugin to run
 * these shell scripts before the pod and to report the pod IP they set up;
 * this host runs neither, and without them the pod is not on the cluster
 * network it was promised, so the pod is refused rather than run off it.
 */
export const MESH_ANNOTATIONS = ['slurm-job.vk.io/pre-exec', 'interlink.eu/wstunnel-client-commands'] as const;

const refuseMeshAnnotations = (pod: K8sPod): void => {
  for (const key of MESH_ANNOTATIONS) {
    if (pod.metadata.annotations?.[key] === undefined) continue;
    throw invalidArgument(
      `pod.metadata.annotations.${key}`,
      "interLink's mesh networking is not supported by this plugin: the pod would not be on the cluster network (disable the virtual kubelet's mesh, or the pod's with interlink.eu/mesh-network: disabled)",
    );
  }
};

/**
 * Limits, else requests, else the executor's defaults: the executor enforces
 * one value per resource, and Kubernetes schedules on requests that may be
 * lower. GPUs come from `nvidia.com/gpu` and must be whole.
 */
const resourcesFor = (c: K8sContainer, defaults: DefaultResources, field: string): TaskResources => {
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  const pick = (name: string): { value: string | number; field: string } | undefined => {
    const l = limits[name];
    if (l !== undefined) return { value: l, field: `${field}.resources.limits.${name}` };
    const r = requests[name];
    return r === undefined ? undefined : { value: r, field: `${field}.resources.requests.${name}` };
  };
  const cpuQ = pick('cpu');
  const memQ = pick('memory');
  const gpuQ = pick(GPU_RESOURCE);
  const cpu = cpuQ === undefined ? 0 : parseQuantity(cpuQ.value, cpuQ.field);
  const memoryBytes = memQ === undefined ? 0 : parseQuantity(memQ.value, memQ.field);
  const gpus = gpuQ === undefined ? 0 : parseQuantity(gpuQ.value, gpuQ.field);
  if (gpuQ !== undefined && !Number.isInteger(gpus)) throw invalidArgument(gpuQ.field, `${String(gpuQ.value)} is not a whole number of GPUs`);
  return {
    cpu: cpu > 0 ? cpu : defaults.cpu,
    memoryMb: memoryBytes > 0 ? Math.ceil(memoryBytes / MiB) : defaults.memoryMb,
    ...diskOf(pick('ephemeral-storage'), defaults),
    networkMbps: defaults.networkMbps,
    // Never the executor's default: the scheduler only counts GPUs the pod asks for.
    gpus,
  };
};

const capabilities = (c: K8sContainer): Pick<ContainerInfo, 'capabilities'> => {
  const caps = c.securityContext?.capabilities;
  if (!caps) return {};
  return { capabilities: { ...(caps.add ? { add: caps.add } : {}), ...(caps.drop ? { drop: caps.drop } : {}) } };
};

/** `ephemeral-storage` is the task's disk (what the host accounts, and enforces where it can); absent, the default. */
const diskOf = (q: { value: string | number; field: string } | undefined, defaults: DefaultResources): { diskMb: number } => {
  const bytes = q === undefined ? 0 : parseQuantity(q.value, q.field);
  return { diskMb: bytes > 0 ? Math.ceil(bytes / MiB) : defaults.diskMb };
};
