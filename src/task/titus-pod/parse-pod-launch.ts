import type { DefaultResources } from '../../config/config.js';
import { ExecutorError, errorMessage, isExecutorError } from '../../common/errors.js';
import { MAX_CONTAINER_INFO_BYTES, parseLaunchRequest } from '../launch-request.js';
import type { LaunchTaskRequest__Output } from '../../proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { imageRefFor } from '../../runtime/image-ref.js';
import type { ContainerInfo } from '../container-info.js';
import type { LaunchSpec } from '../types.js';
import { podToLaunchParts, type PodLaunchParts } from './pod-to-launch.js';
import { refuse } from './pod-fields.js';

/** What a pod launch needs besides the pod: the settings any launch is validated with. */
export interface PodLaunchContext {
  readonly defaults: DefaultResources;
  readonly decodeContainerInfo: (bytes: Uint8Array) => unknown;
  /** docker.registry, for ContainerInfo.imageName in a schema-0 pod. */
  readonly registry: string;
}

export interface PodLaunch {
  readonly spec: LaunchSpec;
  /** The pod as it came (every field kept), which state.json carries back with its status. */
  readonly document: Record<string, unknown>;
}

/**
 * A refusal of the launch renamed after the pod field or annotation the
 * refused value came from (`containerInfo.iamProfile` is
 * `metadata.annotations["iam.amazonaws.com/role"]` to whoever wrote the pod).
 */
const renamed = (err: unknown, origins: ReadonlyArray<readonly [string, string]>, fallback?: string): unknown => {
  if (!isExecutorError(err) || err.field === undefined) return err;
  const field = err.field;
  const hit = origins.find(([prefix]) => field === prefix || field.startsWith(`${prefix}.`));
  // List indexes as Kubernetes writes them: `.add.0` is `.add[0]`.
  const indexes = (path: string): string => path.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
  const origin =
    hit !== undefined
      ? `${hit[1]}${indexes(field.slice(hit[0].length))}`
      : fallback !== undefined
        ? `${fallback} (ContainerInfo ${field.replace(/^containerInfo(Bytes)?\.?/, '')})`
        : undefined;
  if (origin === undefined) return err;
  const detail = err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
  return new ExecutorError(err.code, `${origin}: ${detail}`, { field: origin, cause: err });
};

const translating = <T>(fn: () => T, origins: ReadonlyArray<readonly [string, string]>, fallback?: string): T => {
  try {
    return fn();
  } catch (err) {
    throw renamed(err, origins, fallback);
  }
};

const mergeMaps = (a: unknown, b: unknown): Record<string, string> | undefined =>
  a === undefined && b === undefined ? undefined : { ...(a as Record<string, string> | undefined), ...(b as Record<string, string> | undefined) };

/** Schema 0: the annotation's ContainerInfo, validated as LaunchTask validates bytes, with the pod's own fields over it. */
const containerInfoOf = (parts: PodLaunchParts, ctx: PodLaunchContext): Record<string, unknown> => {
  if (parts.containerInfoBytes === undefined) return parts.info;
  const { bytes, field } = parts.containerInfoBytes;
  const decoded: LaunchSpec = translating(
    () =>
      parseLaunchRequest(
        { taskId: parts.taskId, container: 'containerInfoBytes', containerInfoBytes: Buffer.from(bytes) } as LaunchTaskRequest__Output,
        ctx.defaults,
        ctx.decodeContainerInfo,
      ),
    [['containerInfoBytes', field]],
  );
  const base: ContainerInfo = decoded.containerInfo;
  const merged: Record<string, unknown> = { ...base, ...parts.info };
  for (const key of ['userProvidedEnv', 'titusProvidedEnv', 'passthroughAttributes'] as const) {
    const m = mergeMaps(base[key], parts.info[key]);
    if (m !== undefined) merged[key] = m;
  }
  if (base.networkConfigInfo !== undefined || parts.info['networkConfigInfo'] !== undefined) {
    merged['networkConfigInfo'] = { ...base.networkConfigInfo, ...(parts.info['networkConfigInfo'] as object | undefined) };
  }
  return merged;
};

export interface PodRequestExtras {
  /** LaunchTaskRequest.task_id: empty, or the pod's name. */
  readonly taskId?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A Titus v1.Pod (JSON) as a launch: translated field by field
 * (src/task/titus-pod/pod-to-launch.ts), then validated exactly as a
 * LaunchTask with ContainerInfo is, each refusal naming the pod field or
 * annotation it is about.
 */
export const parsePodLaunch = (json: Uint8Array | string, ctx: PodLaunchContext, extras: PodRequestExtras = {}): PodLaunch => {
  const size = typeof json === 'string' ? Buffer.byteLength(json) : json.length;
  if (size === 0) throw refuse('pod', 'is empty');
  if (size > MAX_CONTAINER_INFO_BYTES) throw refuse('pod', `${size} bytes exceeds the ${MAX_CONTAINER_INFO_BYTES}-byte limit`);
  let document: unknown;
  try {
    document = JSON.parse(typeof json === 'string' ? json : Buffer.from(json).toString('utf8'));
  } catch (err) {
    throw refuse('pod', `is not JSON of a v1.Pod (${errorMessage(err)})`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw refuse('pod', 'is not a JSON object (a v1.Pod)');
  const parts = podToLaunchParts(document);
  if (extras.taskId !== undefined && extras.taskId !== '' && extras.taskId !== parts.taskId) {
    throw refuse('taskId', `${JSON.stringify(extras.taskId)} differs from the pod's metadata.name ${JSON.stringify(parts.taskId)} (leave it empty: the pod names the task)`);
  }
  const fallback = parts.containerInfoBytes?.field;
  const containerInfo = containerInfoOf(parts, ctx);
  const request = {
    taskId: parts.taskId,
    container: 'containerInfo',
    containerInfo,
    resources: parts.resources,
    labels: { ...parts.labels, ...extras.labels },
    ...(parts.runtimeLimitSeconds !== undefined ? { runtimeLimitSeconds: parts.runtimeLimitSeconds } : {}),
  } as unknown as LaunchTaskRequest__Output;
  const spec = translating(() => parseLaunchRequest(request, ctx.defaults, ctx.decodeContainerInfo), parts.origins, fallback);
  // The image is checked when the launch is accepted; checked here too, it is named as the pod's.
  translating(() => imageRefFor(spec.containerInfo, ctx.registry), parts.origins, fallback);
  return {
    spec: {
      ...spec,
      ...(parts.workingDir !== undefined ? { workingDir: parts.workingDir } : {}),
      ...(parts.hostname !== undefined ? { hostname: parts.hostname } : {}),
    },
    document: document as Record<string, unknown>,
  };
};
