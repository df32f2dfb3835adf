/**
 * A burst as a control plane sends one: N launches issued together (110, the
 * kubelet's default pod density), each timed from the burst's start to its
 * own RUNNING, against N raw create+start calls issued together in the same
 * run. Every task must reach RUNNING, or the burst fails the bench. The
 * executor's RSS is read the moment the last task is RUNNING.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { benchTaskId, type BenchExecutorClient, type TimedLaunch } from './executor-client.js';
import type { ExecutorProcess } from './executor-process.js';
import { killAll } from './measure-concurrent.js';
import { LONG_RUNNING } from './measure-launch.js';
import { launchPhases, type Phase } from './phases.js';
import { rawCreateAndStart, withoutEngineNetwork, type RawTemplate } from './raw-container.js';
import { percentile } from './stats.js';

export interface BurstSamples {
  readonly size: number;
  /** Burst start → each task's RUNNING (executor) or start() resolved (raw), every task of every round. */
  readonly executorMs: number[];
  readonly rawMs: number[];
  /** The 99th percentile of each round. */
  readonly executorP99Ms: number[];
  readonly rawP99Ms: number[];
  /** The raw burst asking for no engine network set-up (withoutEngineNetwork), each task and each round's p99. */
  readonly rawNoNetworkMs: number[];
  readonly rawNoNetworkP99Ms: number[];
  /** The executor's RSS when the last task of a round was RUNNING, and its peak (VmHWM) after the rounds. */
  readonly rssAtRunningMiB: number[];
  readonly peakRssMiB: number;
  /** Where each executor task of the bursts spent its time (phases.ts). */
  readonly phases: Array<Record<Phase, number>>;
}

const BURST_TIMEOUT_MS = 300_000;
/**
 * Each burst starts this long after the engine has no container left, so that
 * neither side starts while the previous one's containers (and the kernel
 * state behind them, network namespaces above all) are still being torn down.
 */
export const BURST_SETTLE_MS = 3000;

const settle = async (docker: Docker): Promise<void> => {
  for (let i = 0; i < 600 && (await docker.listContainers({ all: true })).length > 0; i++) await sleep(100);
  await sleep(BURST_SETTLE_MS);
};

const p99 = (xs: readonly number[]): number => percentile([...xs].sort((a, b) => a - b), 99);

const executorBurst = async (ex: BenchExecutorClient, proc: ExecutorProcess, size: number, out: BurstSamples): Promise<void> => {
  const taskIds = Array.from({ length: size }, () => benchTaskId('burst'));
  const t0 = performance.now();
  const settled = await Promise.allSettled(taskIds.map((id) => ex.launchUntilRunning(id, { command: LONG_RUNNING }, BURST_TIMEOUT_MS)));
  const rss = proc.rssMiB();
  const history = taskIds.map((id) => [...ex.watch.history(id)]);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  // Every task is killed whatever happened, so a failed burst leaves nothing behind.
  await killAll(ex, taskIds).catch(() => undefined);
  if (failed.length > 0) throw new Error(`${failed.length} of ${size} burst launches did not reach RUNNING: ${String(failed[0]?.reason)}`);
  const launches = settled.map((s) => (s as PromiseFulfilledResult<TimedLaunch>).value);
  const times = launches.map((l) => l.running.arrivedPerf - t0);
  for (const [i, l] of launches.entries()) {
    const phases = launchPhases(l.issuedWallMs, history[i] ?? []);
    if (phases !== undefined) out.phases.push(phases);
  }
  out.executorMs.push(...times);
  out.executorP99Ms.push(p99(times));
  out.rssAtRunningMiB.push(rss);
};

const rawBurst = async (docker: Docker, template: RawTemplate, size: number, into: { all: number[]; p99: number[] }): Promise<void> => {
  const t0 = performance.now();
  const settled = await Promise.allSettled(
    Array.from({ length: size }, async () => {
      const launch = await rawCreateAndStart(docker, template(benchTaskId('rawburst'), LONG_RUNNING));
      return { container: launch.container, at: performance.now() - t0 };
    }),
  );
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  await Promise.all(started.map((l) => l.container.remove({ force: true, v: true })));
  if (started.length < size) throw new Error(`${size - started.length} of ${size} raw burst launches failed`);
  const times = started.map((l) => l.at);
  into.all.push(...times);
  into.p99.push(p99(times));
};

/** `rounds` of each side (and of raw without engine network), alternating the order so engine drift hits all alike. */
export const measureBurst = async (
  ex: BenchExecutorClient,
  proc: ExecutorProcess,
  docker: Docker,
  template: RawTemplate,
  counts: { size: number; rounds: number },
): Promise<BurstSamples> => {
  const out: BurstSamples = {
    size: counts.size,
    executorMs: [],
    rawMs: [],
    executorP99Ms: [],
    rawP99Ms: [],
    rawNoNetworkMs: [],
    rawNoNetworkP99Ms: [],
    rssAtRunningMiB: [],
    peakRssMiB: 0,
    phases: [],
  };
  const sides = [
    () => executorBurst(ex, proc, counts.size, out),
    () => rawBurst(docker, template, counts.size, { all: out.rawMs, p99: out.rawP99Ms }),
    () => rawBurst(docker, withoutEngineNetwork(template), counts.size, { all: out.rawNoNetworkMs, p99: out.rawNoNetworkP99Ms }),
  ];
  for (let round = 0; round < counts.rounds; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      await settle(docker);
      await side();
    }
  }
  return { ...out, peakRssMiB: proc.peakRssMiB() };
};
