import type { ExecutorConfig } from '../config/config.js';
import { invalidArgument } from '../common/errors.js';
import type { LaunchSpec } from './types.js';
import type { BindMount, ContainerSpec, ImageConfig, Ulimit } from '../runtime/container-spec.js';
import { resolveProcess, requestedProcess } from './entrypoint.js';
import type { ImageRef } from '../runtime/image-ref.js';
import { LABEL, LABEL_SCHEMA_VERSION, boundedLabelValue } from '../runtime/labels.js';
import type { SecurityPlan } from './task-security.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The config slice the container spec is built from. */
export type ContainerSpecConfig = Pick<ExecutorConfig, 'executorId' | 'docker' | 'container'>;

export interface SpecInput {
  readonly launch: LaunchSpec;
  readonly image: ImageRef;
  readonly imageConfig: ImageConfig;
  readonly env: Readonly<Record<string, string>>;
  readonly config: ContainerSpecConfig;
  readonly executorPid: number;
  /** Labels from parts (GPU uuids, addresses); the executor's own labels win. */
  readonly extraLabels?: Readonly<Record<string, string>>;
  /** Set by parts (GPU) that need another OCI runtime. */
  readonly runtime?: string;
  readonly networkMode?: string;
  /** No network from the engine (PartGrant.networkDisabled); only with network mode `none`. */
  readonly networkDisabled?: boolean;
  /** Bind mounts from parts (the network sandbox's /etc/hosts and /etc/resolv.conf). */
  readonly mounts?: readonly BindMount[];
  /** Seccomp/AppArmor options, capabilities and devices from the task's attributes (task-security.ts). */
  readonly security?: SecurityPlan;
}

/** Builds the whole container description; pure, so every rule has a table test. */
export const buildContainerSpec = (input: SpecInput): ContainerSpec => {
  const { launch, image, imageConfig, config } = input;
  const info = launch.containerInfo;
  const process = resolveProcess(requestedProcess(info), imageConfig);
  const runtime = input.runtime ?? config.docker.defaultRuntime;
  const networkMode = input.networkMode ?? 'none';
  // The launch's own mounts (a pod's volumes) and the parts' (the network sandbox's files) together.
  const mounts = [...(launch.mounts ?? []), ...(input.mounts ?? [])];
  return {
    name: launch.taskId,
    image: image.ref,
    entrypoint: process.entrypoint,
    cmd: process.cmd,
    env: input.env,
    labels: buildLabels(input, process.entrypoint, process.cmd),
    // Docker refuses a hostname in `container:` mode: the network sandbox carries it.
    ...(isJoinedNetworkMode(networkMode) ? {} : { hostname: launch.hostname ?? hostnameFor(launch.taskId) }),
    ...(launch.workingDir !== undefined ? { workingDir: launch.workingDir } : {}),
    ...cpuLimits(launch, config),
    memoryBytes: launch.resources.memoryMb * MiB,
    memorySwapBytes: launch.resources.memoryMb * MiB,
    pidsLimit: config.container.pidsLimit,
    ulimits: ulimits(launch, config),
    ...(info.shmSizeMB !== undefined && info.shmSizeMB > 0 ? { shmSizeBytes: info.shmSizeMB * MiB } : {}),
    tmpfs: { '/run': `rw,exec,size=${config.container.runTmpfsMb * MiB}` },
    init: true,
    securityOpt: input.security?.securityOpt ?? ['no-new-privileges'],
    capAdd: [...new Set([...(info.capabilities?.add ?? []), ...(input.security?.capAdd ?? [])])],
    capDrop: info.capabilities?.drop ?? [],
    oomScoreAdj: info.oomScoreAdj ?? config.container.defaultOomScoreAdj,
    networkMode,
    ...(input.networkDisabled === true && networkMode === 'none' ? { networkDisabled: true } : {}),
    ...(mounts.length > 0 ? { mounts } : {}),
    ...(runtime !== undefined ? { runtime } : {}),
    ...(input.security !== undefined && input.security.devices.length > 0 ? { devices: input.security.devices } : {}),
    // Held to the task's disk size where the engine's storage driver can (runtime/disk-quota.ts).
    ...(launch.resources.diskMb > 0 ? { storageSizeBytes: launch.resources.diskMb * MiB } : {}),
    ...(launch.readOnlyRootFilesystem === true ? { readOnlyRootfs: true } : {}),
  };
};

/** `container:<id>`: the container joins another container's network namespace. */
export const isJoinedNetworkMode = (networkMode: string): boolean => networkMode.startsWith('container:');

/** Hostnames are at most 63 characters of [a-z0-9-]; Titus used the lower-cased task id. */
export const hostnameFor = (taskId: string): string =>
  taskId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '') || 'task';

/** CPU shares of 100 per CPU; a CFS quota of period × CPUs unless the task may burst. */
const cpuLimits = (launch: LaunchSpec, config: ContainerSpecConfig): Pick<ContainerSpec, 'cpuShares' | 'cpuPeriodUs' | 'cpuQuotaUs'> => {
  const cpu = launch.resources.cpu;
  const cpuShares = Math.max(2, Math.round(100 * cpu));
  if (launch.containerInfo.allowCpuBursting === true) return { cpuShares };
  const period = config.container.cfsPeriodUs;
  return { cpuShares, cpuPeriodUs: period, cpuQuotaUs: Math.max(1000, Math.round(period * cpu)) };
};

const ulimits = (launch: LaunchSpec, config: ContainerSpecConfig): Ulimit[] => {
  const core = launch.resources.diskMb * MiB + GiB;
  const nofile = config.container.nofile;
  return [
    { name: 'core', soft: core, hard: core },
    ...(nofile !== undefined ? [{ name: 'nofile', soft: nofile, hard: nofile }] : []),
  ];
};

const buildLabels = (input: SpecInput, entrypoint: readonly string[], cmd: readonly string[]): Record<string, string> => {
  const { launch, config } = input;
  const info = launch.containerInfo;
  const r = launch.resources;
  const labels: Record<string, string> = {
    ...(launch.containerLabels ?? {}),
    ...(input.extraLabels ?? {}),
    [LABEL.executor]: config.executorId,
    [LABEL.schema]: LABEL_SCHEMA_VERSION,
    [LABEL.executorPid]: String(input.executorPid),
    [LABEL.taskId]: launch.taskId,
    [LABEL.role]: 'main',
    [LABEL.cpu]: String(r.cpu),
    [LABEL.mem]: String(r.memoryMb),
    [LABEL.disk]: String(r.diskMb),
    [LABEL.network]: String(r.networkMbps),
    [LABEL.workloadType]: info.allowCpuBursting === true ? 'burst' : 'static',
    [LABEL.entrypoint]: boundedLabelValue(entrypoint.join(' ')),
    [LABEL.command]: boundedLabelValue(cmd.join(' ')),
  };
  if (info.iamProfile !== undefined && info.iamProfile !== '') labels[LABEL.iamRole] = info.iamProfile;
  if (info.appName !== undefined && info.appName !== '') labels[LABEL.appName] = info.appName;
  const owner = info.passthroughAttributes?.['titus.agent.ownerEmail'];
  if (owner !== undefined) labels[LABEL.ownerEmail] = owner;
  const jobType = info.passthroughAttributes?.['titus.agent.jobType'];
  if (jobType !== undefined) labels[LABEL.jobType] = jobType;
  return labels;
};

/** Checks a launch can become a valid container before anything is created. */
export const checkShmFitsMemory = (launch: LaunchSpec): void => {
  const shm = launch.containerInfo.shmSizeMB;
  if (shm !== undefined && shm > launch.resources.memoryMb) {
    throw invalidArgument('containerInfo.shmSizeMB', `${shm} MiB exceeds the task's memory (${launch.resources.memoryMb} MiB)`);
  }
};
