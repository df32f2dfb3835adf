/** The bench's side of the executor API: launch and kill a task, timed from the moment the call is issued. */
import { performance } from 'node:perf_hooks';
import { call } from '../src/cli/client.js';
import type { TitusExecutorClient } from '../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { LaunchTaskRequest } from '../src/proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import type { ArrivedUpdate, StatusWatch } from './status-watch.js';

export interface BenchImage {
  readonly repository: string;
  readonly digest: string;
}

export interface TaskShape {
  readonly command: readonly string[];
  readonly memoryMb?: number;
}

/** A digest-pinned image: the executor reuses the local copy instead of pulling. */
export const launchRequest = (taskId: string, image: BenchImage, shape: TaskShape): LaunchTaskRequest => ({
  taskId,
  containerInfo: {
    fullyQualifiedImage: image.repository,
    imageDigest: image.digest,
    process: { command: [...shape.command] },
  },
  resources: { cpu: 1, memoryMb: shape.memoryMb ?? 64, diskMb: 1024, networkMbps: 128 },
});

let counter = 0;
export const benchTaskId = (kind: string): string => `bench-${kind}-${process.pid}-${++counter}`;

export interface TimedLaunch {
  readonly issuedPerf: number;
  readonly issuedWallMs: number;
  readonly running: ArrivedUpdate;
  /** LaunchTask issued → RUNNING received over WatchTaskStatus. */
  readonly elapsedMs: number;
}

export class BenchExecutorClient {
  constructor(
    private readonly client: TitusExecutorClient,
    readonly watch: StatusWatch,
    readonly image: BenchImage,
  ) {}

  async launchUntilRunning(taskId: string, shape: TaskShape, timeoutMs?: number): Promise<TimedLaunch> {
    const issuedWallMs = Date.now();
    const issuedPerf = performance.now();
    await call(this.client.LaunchTask.bind(this.client), launchRequest(taskId, this.image, shape));
    const running = await this.watch.waitForState(taskId, 'RUNNING', timeoutMs);
    return { issuedPerf, issuedWallMs, running, elapsedMs: running.arrivedPerf - issuedPerf };
  }

  /** KillTask issued → KILLED received. */
  async killUntilKilled(taskId: string, timeoutMs?: number): Promise<number> {
    const t0 = performance.now();
    await call(this.client.KillTask.bind(this.client), { taskId, reason: 'bench' });
    const end = await this.watch.waitForState(taskId, 'KILLED', timeoutMs);
    return end.arrivedPerf - t0;
  }
}
