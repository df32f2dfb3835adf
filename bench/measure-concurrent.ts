/**
 * Many launches at once on one host: LaunchTask × N issued together until all
 * are RUNNING, against N raw create+start calls issued together.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { benchTaskId, type BenchExecutorClient, type TaskShape } from './executor-client.js';
import { LONG_RUNNING } from './measure-launch.js';
import { rawCreateAndStart, type RawTemplate } from './raw-container.js';

export interface ConcurrentSamples {
  readonly executorMs: number[];
  readonly rawMs: number[];
  /** The executor process's CPU time per task (launch and kill), one sample per round. */
  readonly executorCpuMsPerTask: number[];
}

/** Launches `count` tasks at once; resolves with the time until the last is RUNNING, and their ids. */
export const launchManyUntilRunning = async (
  ex: BenchExecutorClient,
  count: number,
  shape: TaskShape,
  timeoutMs = 180_000,
): Promise<{ elapsedMs: number; taskIds: string[] }> => {
  const taskIds = Array.from({ length: count }, () => benchTaskId('many'));
  const t0 = performance.now();
  const launches = await Promise.all(taskIds.map((id) => ex.launchUntilRunning(id, shape, timeoutMs)));
  const lastRunning = Math.max(...launches.map((l) => l.running.arrivedPerf));
  return { elapsedMs: lastRunning - t0, taskIds };
};

/** Kills every task at once and waits for each to end. */
export const killAll = async (ex: BenchExecutorClient, taskIds: readonly string[]): Promise<void> => {
  await Promise.all(taskIds.map((id) => ex.killUntilKilled(id, 180_000)));
  for (const id of taskIds) ex.watch.forget(id);
};

const executorRound = async (ex: BenchExecutorClient, count: number, cpuMs: () => number, out: ConcurrentSamples): Promise<void> => {
  const cpuBefore = cpuMs();
  const { elapsedMs, taskIds } = await launchManyUntilRunning(ex, count, { command: LONG_RUNNING });
  await killAll(ex, taskIds);
  out.executorMs.push(elapsedMs);
  out.executorCpuMsPerTask.push((cpuMs() - cpuBefore) / count);
};

const rawRound = async (docker: Docker, template: RawTemplate, count: number): Promise<number> => {
  const t0 = performance.now();
  const launches = await Promise.all(Array.from({ length: count }, () => rawCreateAndStart(docker, template(benchTaskId('rawmany'), LONG_RUNNING))));
  const elapsedMs = performance.now() - t0;
  await Promise.all(launches.map((l) => l.container.remove({ force: true, v: true })));
  return elapsedMs;
};

export const measureConcurrent = async (
  ex: BenchExecutorClient,
  docker: Docker,
  template: RawTemplate,
  counts: { concurrency: number; rounds: number },
  executorCpuMs: () => number,
): Promise<ConcurrentSamples> => {
  const out: ConcurrentSamples = { executorMs: [], rawMs: [], executorCpuMsPerTask: [] };
  for (let round = 0; round < counts.rounds; round++) {
    const executorFirst = round % 2 === 0;
    if (executorFirst) await executorRound(ex, counts.concurrency, executorCpuMs, out);
    out.rawMs.push(await rawRound(docker, template, counts.concurrency));
    if (!executorFirst) await executorRound(ex, counts.concurrency, executorCpuMs, out);
  }
  return out;
};
