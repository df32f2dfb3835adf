/**
 * The raw baseline: the same container the executor makes, created and started
 * with dockerode directly. Its create options are copied from an inspected
 * executor container, so both sides ask the engine for the same container.
 *
 * One difference is on purpose: the raw side asks for its namespace as
 * `docker run --network none` does (network mode `none`: the engine's network
 * stack builds it, with a libnetwork sandbox and a prestart hook that
 * re-executes dockerd), while the executor asks for `NetworkDisabled` (the OCI
 * runtime makes the same namespace, with only lo; src/parts/own-namespace-part.ts).
 * That is the baseline the issue measures against: what a client of the
 * engine gets by asking the usual way. So that the executor's own overhead
 * stays visible, `withoutEngineNetwork` gives the raw side the executor's way
 * too, and the bench shows both.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';

export const RAW_EXECUTOR_ID = 'bench-raw';

/** The HostConfig fields the executor sets (docker-runtime.ts toCreateOptions). */
const HOST_CONFIG_FIELDS = [
  'CpuShares',
  'CpuQuota',
  'CpuPeriod',
  'Memory',
  'MemorySwap',
  'PidsLimit',
  'Ulimits',
  'ShmSize',
  'Tmpfs',
  'Init',
  'SecurityOpt',
  'CapAdd',
  'CapDrop',
  'OomScoreAdj',
  'NetworkMode',
  'Runtime',
] as const;

export type RawTemplate = (name: string, cmd: readonly string[]) => Docker.ContainerCreateOptions;

const pickHostConfig = (hc: Docker.HostConfig): Docker.HostConfig => {
  const source = hc as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of HOST_CONFIG_FIELDS) if (source[key] !== undefined && source[key] !== null) out[key] = source[key];
  return out as Docker.HostConfig;
};

/** Create options equal to those of container `id` (made by the executor), with a new name, command and owner label. */
export const rawTemplateFrom = async (docker: Docker, id: string): Promise<RawTemplate> => {
  const info = await docker.getContainer(id).inspect();
  const hostConfig = pickHostConfig(info.HostConfig);
  const env = info.Config.Env ?? [];
  const labels = info.Config.Labels ?? {};
  return (name, cmd) => ({
    name,
    Image: info.Config.Image,
    Entrypoint: [],
    Cmd: [...cmd],
    Env: [...env],
    // Another owner id, so the executor never mistakes these for its own.
    Labels: { ...labels, 'titus.executor.id': RAW_EXECUTOR_ID, 'titus.task_id': name },
    Hostname: name.toLowerCase().slice(0, 63),
    HostConfig: hostConfig,
  });
};

/** The same create options asking the engine for no network set-up at all, as the executor does for a task without a network driver. */
export const withoutEngineNetwork =
  (template: RawTemplate): RawTemplate =>
  (name, cmd) => ({ ...template(name, cmd), NetworkDisabled: true });

export interface RawLaunch {
  readonly container: Docker.Container;
  /** From the create call to the start call's resolution. */
  readonly elapsedMs: number;
}

export const rawCreateAndStart = async (docker: Docker, options: Docker.ContainerCreateOptions): Promise<RawLaunch> => {
  const t0 = performance.now();
  const container = await docker.createContainer(options);
  await container.start();
  return { container, elapsedMs: performance.now() - t0 };
};

/** What a raw client does to kill a task: stop with a grace period, then remove. */
export const rawStopAndRemove = async (container: Docker.Container, graceSeconds = 10): Promise<number> => {
  const t0 = performance.now();
  await container.stop({ t: graceSeconds }).catch(ignoreNotModified);
  await container.remove({ force: true, v: true });
  return performance.now() - t0;
};

/** 304: already stopped. */
const ignoreNotModified = (err: unknown): void => {
  if ((err as { statusCode?: number }).statusCode !== 304) throw err;
};
