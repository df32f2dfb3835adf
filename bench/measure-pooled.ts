/**
 * Launch overhead with the warm sandbox pool: an executor process with
 * `sandboxPool` on, its tasks joining pooled sandboxes through the
 * hostname-hook runtime (pooled-runtime.ts), against the same raw
 * create+start as the plain (unpooled) launch row, interleaved the same way;
 * once with network.driver none, once with the local driver (as the networked
 * row, in a bench namespace). The pool is full before the first launch;
 * between launches it refills in the background, as it would between a
 * control plane's requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { call } from '../src/cli/client.js';
import type { TitusExecutorClient } from '../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { BenchOptions } from './args.js';
import { createBenchNetns } from './bench-netns.js';
import { BenchExecutorClient, type BenchImage } from './executor-client.js';
import { startExecutorProcess, type ExecutorProcess } from './executor-process.js';
import { measureLaunches, type LaunchSamples } from './measure-launch.js';
import { networkedConfig } from './measure-networked.js';
import { POOL_BENCH_RUNTIME, type PooledRuntime } from './pooled-runtime.js';
import type { RawTemplate } from './raw-container.js';
import { StatusWatch } from './status-watch.js';

export const BENCH_POOL_SIZE = 4;

export const pooledConfig = (runtime: PooledRuntime, workDir: string): Record<string, unknown> => ({
  sandboxPool: { size: BENCH_POOL_SIZE },
  // No GPUs: only the hook runtime and the hook config the pool shares with the GPU part.
  gpu: {
    nvidiaOciRuntime: POOL_BENCH_RUNTIME,
    hookConfigPath: runtime.hookConfigPath,
    lockDir: join(workDir, 'gpu-locks'),
    nvidiaSmiPath: join(workDir, 'no-nvidia-smi'),
    deviceNodePath: join(workDir, 'no-nvidia0'),
  },
});

const poolLine = async (client: TitusExecutorClient): Promise<string> =>
  (await call(client.GetHostResources.bind(client), {})).status.find((s) => s.startsWith('sandbox pool:')) ?? '(no pool: see the executor log)';

/** The probe passed and the pool filled, or the pool is off (an error: the row would measure the unpooled path). */
const untilPoolFull = async (client: TitusExecutorClient, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await poolLine(client);
    if (line.startsWith(`sandbox pool: ${BENCH_POOL_SIZE}/${BENCH_POOL_SIZE} ready`)) return;
    if (Date.now() > deadline) throw new Error(`the sandbox pool did not fill within ${timeoutMs} ms: ${line}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

export interface PooledSamples {
  readonly launches: LaunchSamples;
  /** GetHostResources' pool line at the end: how many launches were pooled, how many fell back. */
  readonly poolLine: string;
}

export interface PooledRun {
  readonly dockerHost: string;
  readonly executorId: string;
  readonly docker: Docker;
  readonly template: RawTemplate;
  readonly image: BenchImage;
  readonly runtime: PooledRuntime;
}

export const measurePooledLaunches = async (
  opts: Pick<BenchOptions, 'launches' | 'warmups'>,
  run: PooledRun,
  onProgress: (done: number, total: number) => void = () => undefined,
  extraConfig: Record<string, unknown> = {},
): Promise<PooledSamples> => {
  const workDir = mkdtempSync(join(tmpdir(), 'titus-bench-pool-'));
  let proc: ExecutorProcess | undefined;
  let watch: StatusWatch | undefined;
  try {
    proc = await startExecutorProcess(workDir, run.dockerHost, run.executorId, { ...pooledConfig(run.runtime, workDir), ...extraConfig });
    watch = await StatusWatch.open(proc.client);
    await untilPoolFull(proc.client);
    const ex = new BenchExecutorClient(proc.client, watch, run.image);
    const launches = await measureLaunches(ex, run.docker, run.template, opts, onProgress);
    return { launches, poolLine: await poolLine(proc.client) };
  } finally {
    watch?.close();
    // Stopping removes the idle pooled sandboxes (the bench checks that nothing is left).
    await proc?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
};

/** The same with the local network driver: the pooled sandbox is attached per task after the take. */
export const measurePooledNetworkedLaunches = async (
  opts: Pick<BenchOptions, 'launches' | 'warmups'>,
  run: PooledRun,
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<PooledSamples> => {
  const netns = await createBenchNetns();
  try {
    const samples = await measurePooledLaunches(opts, run, onProgress, networkedConfig(netns.name));
    const left = await netns.leftovers();
    if (left.length > 0) throw new Error(`the pooled networked executor left ${left.join(', ')} in ${netns.name}`);
    return samples;
  } finally {
    await netns.remove();
  }
};
