/**
 * Exit-to-terminal-status latency: from the engine's `die` event to the moment
 * the FINISHED update reaches the client, against a raw client that is
 * blocked in wait() and then removes the container (the executor also removes
 * it before reporting). The task sleeps briefly before exiting so both sides
 * are already waiting when it dies: this measures exit notification, not a
 * race with start-up.
 */
import type Docker from 'dockerode';
import type { DieEvents } from './engine-events.js';
import { benchTaskId, type BenchExecutorClient } from './executor-client.js';
import { rawCreateAndStart, type RawTemplate } from './raw-container.js';

export const EXITS_SOON = ['sh', '-c', 'sleep 0.5; exit 0'] as const;

export interface ExitSamples {
  readonly executorMs: number[];
  readonly rawMs: number[];
}

const executorOnce = async (ex: BenchExecutorClient, deaths: DieEvents): Promise<number> => {
  const taskId = benchTaskId('exit');
  await ex.launchUntilRunning(taskId, { command: EXITS_SOON });
  const finished = await ex.watch.waitForState(taskId, 'FINISHED');
  const diedMs = await deaths.diedAtMs(taskId);
  ex.watch.forget(taskId);
  return finished.arrivedWallMs - diedMs;
};

const rawOnce = async (docker: Docker, template: RawTemplate, deaths: DieEvents): Promise<number> => {
  const name = benchTaskId('rawexit');
  const { container } = await rawCreateAndStart(docker, template(name, EXITS_SOON));
  await container.wait();
  await container.remove({ force: true, v: true });
  const doneMs = Date.now();
  return doneMs - (await deaths.diedAtMs(name));
};

export const measureExits = async (
  ex: BenchExecutorClient,
  docker: Docker,
  template: RawTemplate,
  deaths: DieEvents,
  count: number,
): Promise<ExitSamples> => {
  const out: ExitSamples = { executorMs: [], rawMs: [] };
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) out.executorMs.push(await executorOnce(ex, deaths));
    out.rawMs.push(await rawOnce(docker, template, deaths));
    if (i % 2 === 1) out.executorMs.push(await executorOnce(ex, deaths));
  }
  return out;
};
