/**
 * The executor's resident memory, read from /proc for its own process: idle
 * with no tasks, then with many small tasks running. RSS moves with V8's
 * garbage collection, so each state is sampled over a few seconds, and the
 * peak (VmHWM) over the whole launch is kept as well.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchExecutorClient } from './executor-client.js';
import type { ExecutorProcess } from './executor-process.js';
import { killAll, launchManyUntilRunning } from './measure-concurrent.js';

export interface MemorySamples {
  readonly idleMiB: number[];
  readonly loadedMiB: number[];
  /** VmHWM after the tasks were launched: the most the process has held so far. */
  readonly peakMiB: number;
  readonly tasks: number;
  /** How long the loaded launch took (all tasks RUNNING). */
  readonly loadLaunchMs: number;
}

const SETTLE_MS = 2000;
const READINGS = 10;
const READING_INTERVAL_MS = 250;

/** RSS readings of a settled process. */
export const rssReadings = async (proc: ExecutorProcess): Promise<number[]> => {
  await sleep(SETTLE_MS);
  const out: number[] = [];
  for (let i = 0; i < READINGS; i++) {
    out.push(proc.rssMiB());
    await sleep(READING_INTERVAL_MS);
  }
  return out;
};

export const measureMemory = async (proc: ExecutorProcess, ex: BenchExecutorClient, tasks: number): Promise<MemorySamples> => {
  const idleMiB = await rssReadings(proc);
  const { elapsedMs, taskIds } = await launchManyUntilRunning(ex, tasks, { command: ['sleep', '600'], memoryMb: 16 }, 300_000);
  const loadedMiB = await rssReadings(proc);
  const peakMiB = proc.peakRssMiB();
  await killAll(ex, taskIds);
  return { idleMiB, loadedMiB, peakMiB, tasks, loadLaunchMs: elapsedMs };
};
