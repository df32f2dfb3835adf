/**
 * Sequential launch overhead and kill latency, executor against raw dockerode,
 * alternating which goes first so drift in the engine (cache, cgroup churn)
 * hits both sides alike.
 */
import type Docker from 'dockerode';
import { benchTaskId, type BenchExecutorClient } from './executor-client.js';
import { launchPhases, type Phase } from './phases.js';
import { rawCreateAndStart, rawStopAndRemove, withoutEngineNetwork, type RawTemplate } from './raw-container.js';

/** Stays up until killed; busybox sleep under the init process exits on SIGTERM. */
export const LONG_RUNNING = ['sleep', '30'] as const;

export interface LaunchSamples {
  readonly executorLaunchMs: number[];
  readonly rawLaunchMs: number[];
  readonly executorKillMs: number[];
  readonly rawKillMs: number[];
  readonly phases: Array<Record<Phase, number>>;
  /** With `withoutEngineNetwork`: raw create+start and stop+remove asking for NetworkDisabled (raw-container.ts). */
  readonly rawNoNetworkLaunchMs?: number[];
  readonly rawNoNetworkKillMs?: number[];
}

const executorOnce = async (ex: BenchExecutorClient, out: LaunchSamples, record: boolean): Promise<void> => {
  const taskId = benchTaskId('seq');
  const launch = await ex.launchUntilRunning(taskId, { command: LONG_RUNNING });
  const phases = launchPhases(launch.issuedWallMs, ex.watch.history(taskId));
  const killMs = await ex.killUntilKilled(taskId);
  ex.watch.forget(taskId);
  if (!record) return;
  out.executorLaunchMs.push(launch.elapsedMs);
  out.executorKillMs.push(killMs);
  if (phases !== undefined) out.phases.push(phases);
};

const rawOnce = async (docker: Docker, template: RawTemplate, into: { launch: number[]; kill: number[] } | undefined): Promise<void> => {
  const launch = await rawCreateAndStart(docker, template(benchTaskId('raw'), LONG_RUNNING));
  const killMs = await rawStopAndRemove(launch.container);
  into?.launch.push(launch.elapsedMs);
  into?.kill.push(killMs);
};

export const measureLaunches = async (
  ex: BenchExecutorClient,
  docker: Docker,
  template: RawTemplate,
  counts: { launches: number; warmups: number },
  onProgress: (done: number, total: number) => void = () => undefined,
  /** Also a third side, raw with no engine network set-up (withoutEngineNetwork), in the same alternation. */
  alsoWithoutEngineNetwork = false,
): Promise<LaunchSamples> => {
  const noNetwork = alsoWithoutEngineNetwork ? { launch: [] as number[], kill: [] as number[] } : undefined;
  const out: LaunchSamples = {
    executorLaunchMs: [],
    rawLaunchMs: [],
    executorKillMs: [],
    rawKillMs: [],
    phases: [],
    ...(noNetwork !== undefined ? { rawNoNetworkLaunchMs: noNetwork.launch, rawNoNetworkKillMs: noNetwork.kill } : {}),
  };
  const total = counts.warmups + counts.launches;
  const noNetworkTemplate = withoutEngineNetwork(template);
  for (let i = 0; i < total; i++) {
    const record = i >= counts.warmups;
    const sides = [
      () => executorOnce(ex, out, record),
      () => rawOnce(docker, template, record ? { launch: out.rawLaunchMs, kill: out.rawKillMs } : undefined),
      ...(noNetwork !== undefined ? [() => rawOnce(docker, noNetworkTemplate, record ? noNetwork : undefined)] : []),
    ];
    for (const side of i % 2 === 0 ? sides : sides.reverse()) await side();
    onProgress(i + 1, total);
  }
  return out;
};
