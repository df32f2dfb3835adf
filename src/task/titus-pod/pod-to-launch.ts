import { parseQuantity } from '../quantity.js';
import { imageFields } from '../image-fields.js';
import { mapKeyForPath } from '../env-limits.js';
import { readAnnotations, type AnnotationResult } from './annotations.js';
import { annotationField, checkPodPart, fieldPath, refuse } from './pod-fields.js';
import { podContainerSchema, podSchema, type PodContainer, type TitusPod } from './pod-schema.js';

/** A pod translated to the parts of a LaunchTaskRequest, before the launch's own validation. */
export interface PodLaunchParts {
  readonly pod: TitusPod;
  readonly taskId: string;
  /** 0: ContainerInfo from the annotation, overlaid with `info`; 1: `info` alone. */
  readonly schemaVersion: 0 | 1;
  /** Schema 0: the serialized ContainerInfo from the annotation, and the annotation's name. */
  readonly containerInfoBytes?: { readonly bytes: Uint8Array; readonly field: string };
  /** ContainerInfo fields from the pod (proto JSON object shape). */
  readonly info: Record<string, unknown>;
  readonly resources: { cpu: number; memoryMb: number; diskMb: number; networkMbps: number; gpus: number };
  readonly labels: Record<string, string>;
  readonly runtimeLimitSeconds?: number;
  readonly workingDir?: string;
  readonly hostname?: string;
  /** Launch field path prefix → the pod field or annotation it came from, most specific first. */
  readonly origins: ReadonlyArray<readonly [string, string]>;
}

const MAIN = ['spec', 'containers', 0] as const;
const mainField = (...rest: Array<string | number>): string => fieldPath([...MAIN, ...rest]);

const MIB = 2 ** 20;

/** Resource names a Titus pod's container limits carry; anything else is refused. */
const RESOURCE_NAMES = ['cpu', 'memory', 'ephemeral-storage', 'nvidia.com/gpu', 'titus/network', 'titus/gpu'] as const;

const readResources = (c: PodContainer, a: AnnotationResult, origins: Array<[string, string]>): PodLaunchParts['resources'] => {
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  for (const [list, name] of [...Object.keys(limits).map((k) => ['limits', k]), ...Object.keys(requests).map((k) => ['requests', k])] as Array<[string, string]>) {
    if (!(RESOURCE_NAMES as readonly string[]).includes(name)) {
      throw refuse(`${mainField('resources', list)}[${JSON.stringify(name)}]`, `is not a resource this executor provides (${RESOURCE_NAMES.join(', ')})`);
    }
  }
  // Titus put the task's size in the limits (titus-executor read only those); a bare request stands in for a missing limit.
  const pick = (name: string): { value: number; field: string } | undefined => {
    for (const [list, values] of [['limits', limits], ['requests', requests]] as const) {
      const v = values[name];
      if (v !== undefined) {
        const field = `${mainField('resources', list)}[${JSON.stringify(name)}]`;
        return { value: parseQuantity(v, field), field };
      }
    }
    return undefined;
  };
  const record = (name: string, target: string): number | undefined => {
    const q = pick(name);
    if (q === undefined) return undefined;
    origins.push([`resources.${target}`, q.field]);
    return q.value;
  };
  const cpu = record('cpu', 'cpu') ?? 0;
  const memory = record('memory', 'memoryMb');
  const disk = record('ephemeral-storage', 'diskMb');
  const gpuQ = pick('nvidia.com/gpu') ?? pick('titus/gpu');
  if (gpuQ !== undefined) {
    if (!Number.isInteger(gpuQ.value)) throw refuse(gpuQ.field, `${gpuQ.value} is not a whole number of GPUs`);
    origins.push(['resources.gpus', gpuQ.field]);
  }
  // titus/network is bits per second (128M = 128 Mbps); the bandwidth annotations say the same, and must agree.
  const net = pick('titus/network');
  const rates = [...(net !== undefined ? [{ mbps: Math.ceil(net.value / 1e6), origin: net.field }] : []), ...a.bandwidth];
  const first = rates[0];
  for (const r of rates) {
    if (first !== undefined && r.mbps !== first.mbps) {
      throw refuse(r.origin, `${r.mbps} Mbps differs from ${first.origin} (${first.mbps} Mbps); the executor shapes one rate for both directions`);
    }
  }
  if (first !== undefined) origins.push(['resources.networkMbps', first.origin]);
  return {
    cpu,
    // Bytes to MiB, as titus-executor's backend converted them.
    memoryMb: memory === undefined ? 0 : Math.floor(memory / MIB),
    diskMb: disk === undefined ? 0 : Math.floor(disk / MIB),
    networkMbps: first?.mbps ?? 0,
    gpus: gpuQ?.value ?? 0,
  };
};

/** Env from the container spec: the system names (Titus') apart from the user's, as Titus kept them. */
const readEnv = (c: PodContainer, a: AnnotationResult, info: Record<string, unknown>, origins: Array<[string, string]>): void => {
  const user: Record<string, string> = {};
  const titus: Record<string, string> = {};
  (c.env ?? []).forEach((e, i) => {
    if (e.valueFrom !== undefined) throw refuse(mainField('env', i, 'valueFrom'), `${e.name}: only literal values are supported (there is no API server to resolve a reference)`);
    const target = a.systemEnvNames?.has(e.name) === true ? titus : user;
    target[e.name] = e.value ?? '';
    origins.push([`containerInfo.${target === titus ? 'titusProvidedEnv' : 'userProvidedEnv'}.${mapKeyForPath(e.name)}`, mainField('env', i)]);
  });
  if (Object.keys(user).length > 0) info['userProvidedEnv'] = { ...(info['userProvidedEnv'] as object | undefined), ...user };
  if (Object.keys(titus).length > 0) info['titusProvidedEnv'] = { ...(info['titusProvidedEnv'] as object | undefined), ...titus };
};

const readProcess = (c: PodContainer, a: AnnotationResult, info: Record<string, unknown>, origins: Array<[string, string]>): void => {
  const command = c.command ?? [];
  const args = c.args ?? [];
  if (a.shellSplitting && args.length === 0 && command.length > 0) {
    // Titus' legacy behaviour: the command is one shell-like string, split by the executor.
    info['entrypointStr'] = command.join(' ');
    origins.push(['containerInfo.entrypointStr', mainField('command')]);
    return;
  }
  const process: Record<string, string[]> = {};
  if (command.length > 0) process['entrypoint'] = command;
  if (args.length > 0) process['command'] = args;
  if (Object.keys(process).length > 0) info['process'] = process;
  origins.push(['containerInfo.process.entrypoint', mainField('command')], ['containerInfo.process.command', mainField('args')]);
};

const decodeBase64 = (key: string, value: string): Uint8Array => {
  const text = value.replace(/\s+/g, '');
  if (text === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw refuse(annotationField(key), 'is not standard base64 of a serialized ContainerInfo');
  }
  return Buffer.from(text, 'base64');
};

/**
 * Reads a Titus pod: the annotations (refusing any this executor cannot
 * honour, by name), then the container spec. Validation of the resulting
 * launch (ContainerInfo, resources, limits) is the launch's own.
 */
export const podToLaunchParts = (input: unknown): PodLaunchParts => {
  const pod = checkPodPart(podSchema, input, []);
  const container = checkPodPart(podContainerSchema, pod.spec.containers[0], MAIN);
  const a = readAnnotations(pod.metadata.annotations ?? {}, container.name);
  const origins: Array<[string, string]> = [['taskId', 'metadata.name'], ...a.origins];
  const info: Record<string, unknown> = { ...a.info };
  if (Object.keys(a.passthrough).length > 0) info['passthroughAttributes'] = a.passthrough;

  let containerInfoBytes: PodLaunchParts['containerInfoBytes'];
  if (a.schemaVersion === 0) {
    if (a.containerInfoBase64 === undefined) {
      throw refuse(annotationField('containerInfo'), 'is required without pod.netflix.com/pod-schema-version "1" (set one or the other)');
    }
    containerInfoBytes = { bytes: decodeBase64(a.containerInfoBase64.key, a.containerInfoBase64.value), field: annotationField(a.containerInfoBase64.key) };
    // The annotation says what runs; the container spec only sizes it and adds env.
    if ((container.command ?? []).length > 0) throw refuse(mainField('command'), 'must be empty with a containerInfo annotation (it carries the process)');
    if ((container.args ?? []).length > 0) throw refuse(mainField('args'), 'must be empty with a containerInfo annotation (it carries the process)');
  } else {
    if (a.containerInfoBase64 !== undefined) {
      throw refuse(annotationField(a.containerInfoBase64.key), 'is the schema-0 form and is not read with pod.netflix.com/pod-schema-version "1"; remove one of them');
    }
    if (a.systemEnvNames === undefined) {
      throw refuse(annotationField('pod.titus.netflix.com/system-env-var-names'), 'is required in pod schema 1 (the names of the env variables Titus set, possibly empty)');
    }
    Object.assign(info, imageFields(container.image));
    origins.push(['containerInfo.fullyQualifiedImage', mainField('image')], ['containerInfo.imageDigest', mainField('image')], ['containerInfo.version', mainField('image')]);
    readProcess(container, a, info, origins);
  }
  readEnv(container, a, info, origins);
  const caps = container.securityContext?.capabilities;
  if (caps !== undefined && ((caps.add ?? []).length > 0 || (caps.drop ?? []).length > 0)) {
    info['capabilities'] = { add: caps.add ?? [], drop: caps.drop ?? [] };
    origins.push(['containerInfo.capabilities.add', mainField('securityContext', 'capabilities', 'add')], ['containerInfo.capabilities.drop', mainField('securityContext', 'capabilities', 'drop')]);
  }
  const grace = pod.spec.terminationGracePeriodSeconds;
  // 0 is Kubernetes' "at once"; Titus' executor read it as unset (its 10 s default), and so does this one.
  if (grace !== undefined && grace > 0) {
    info['killWaitSeconds'] = grace;
    origins.push(['containerInfo.killWaitSeconds', 'spec.terminationGracePeriodSeconds']);
  }
  const resources = readResources(container, a, origins);
  const labels = { ...(pod.metadata.labels ?? {}) };
  origins.push(['labels', 'metadata.labels']);
  const workingDir = container.workingDir;
  if (workingDir !== undefined && workingDir !== '' && !workingDir.startsWith('/')) throw refuse(mainField('workingDir'), 'must be an absolute path');
  const hostname = pod.spec.hostname;
  if (hostname !== undefined && hostname !== '' && !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(hostname)) {
    throw refuse('spec.hostname', 'must be a DNS label (lower-case letters, digits and -, at most 63)');
  }
  return {
    pod,
    taskId: pod.metadata.name,
    schemaVersion: a.schemaVersion === 0 ? 0 : 1,
    ...(containerInfoBytes !== undefined ? { containerInfoBytes } : {}),
    info,
    resources,
    labels,
    ...(pod.spec.activeDeadlineSeconds !== undefined ? { runtimeLimitSeconds: pod.spec.activeDeadlineSeconds } : {}),
    ...(workingDir !== undefined && workingDir !== '' ? { workingDir } : {}),
    ...(hostname !== undefined && hostname !== '' ? { hostname } : {}),
    // Longest prefix first, so the most specific origin names a refusal.
    origins: [...origins, ['runtimeLimitSeconds', 'spec.activeDeadlineSeconds'] as [string, string]].sort((x, y) => y[0].length - x[0].length),
  };
};
