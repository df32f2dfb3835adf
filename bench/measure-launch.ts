/**
 * Sequential launch overhead and kill latency, executor against raw dockerode,
 * alternating which goes first so drift in the engine (cache, cgroup churn)
 * hits both sides alike.
 */
import type Docker from 'dockerode';
import { benchTaskId, type BenchExecutorClient } from './executor-client.js';
import { launchPhases, type Phase } from './phases.js';
import { rawCreateAndStart, rawStopAndRemove, type RawTemplate } from './raw-container.js';

/** Stays up until killed; busybox sleep under the init process exits on SIGTERM. */
export const LONG_RUNNING = ['sleep', '30'] as const;

export interface LaunchSamples {
  readonly executorLaunchMs: number[];
  readonly rawLaunchMs: number[];
  readonly executorKillMs: number[];
  readonly rawKillMs: number[];
  readonly phases: Array<Record<Phase, number>>;
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

const rawOnce = async (docker: Docker, template: RawTemplate, out: LaunchSamples, record: boolean): Promise<void> => {
  const launch = await rawCreateAndStart(docker, template(benchTaskId('raw'), LONG_RUNNING));
  const killMs = await rawStopAndRemove(launch.container);
  if (!record) return;
  out.rawLaunchMs.push(launch.elapsedMs);
  out.rawKillMs.push(killMs);
};

export const measureLaunches = async (
  ex: BenchExecutorClient,
  docker: Docker,
  template: RawTemplate,
  counts: { launches: number; warmups: number },
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<LaunchSamples> => {
  const out: LaunchSamples = { executorLaunchMs: [], rawLaunchMs: [], executorKillMs: [], rawKillMs: [], phases: [] };
  const total = counts.warmups + counts.launches;
  for (let i = 0; i < total; i++) {
    const record = i >= counts.warmups;
    if (i % 2 === 0) {
      await executorOnce(ex, out, record);
      await rawOnce(docker, template, out, record);
    } else {
      await rawOnce(docker, template, out, record);
      await executorOnce(ex, out, record);
    }
    onProgress(i + 1, total);
  }
  return out;
};
