/**
 * A ContainerRuntime decorator that times every engine call and counts its
 * failures, and measures image pulls (bytes and time). The composition root
 * wraps the real runtime with it; the task core does not change.
 */
import { performance } from 'node:perf_hooks';
import type {
  ContainerExit,
  ContainerOutputLine,
  ContainerOutputSource,
  ContainerRuntime,
  ContainerSummary,
  FollowOutputOptions,
} from '../runtime/container-runtime.js';
import type { ContainerSpec, ImageConfig } from '../runtime/container-spec.js';
import type { ImageRef } from '../runtime/image-ref.js';
import type { TaskPullAuth } from '../runtime/registry-auth/index.js';
import type { DiskQuotaSupport } from '../runtime/disk-quota.js';
import { RuntimeError, isRuntimeError } from '../runtime/runtime-errors.js';
import type { PullProgress } from '../task/types.js';
import type { Metrics } from './metrics.js';

/** The failure kind for the errors counter: the runtime's classification, else "unclassified". */
const failureKind = (err: unknown): string => (isRuntimeError(err) ? err.kind : 'unclassified');

export class InstrumentedRuntime implements ContainerRuntime, ContainerOutputSource {
  constructor(
    // Partial: the fakes some tests wrap have no output to follow.
    private readonly inner: ContainerRuntime & Partial<ContainerOutputSource>,
    private readonly metrics: Metrics,
  ) {
    // Only where the inner runtime can tell: the core treats a runtime without it as one that cannot.
    if (inner.diskQuota !== undefined) this.diskQuota = inner.diskQuota.bind(inner);
    if (inner.onContainerExited !== undefined) this.onContainerExited = inner.onContainerExited.bind(inner);
  }

  /** Not counted: a subscription to events the engine sends anyway. */
  readonly onContainerExited?: (id: string, listener: () => void) => () => void;

  /** Not timed: cached, or one Info call. */
  readonly diskQuota?: () => Promise<DiskQuotaSupport>;

  version(): Promise<string> {
    return this.timed('version', () => this.inner.version());
  }

  findImage(ref: string): Promise<ImageConfig | undefined> {
    return this.timed('find_image', () => this.inner.findImage(ref));
  }

  async pullImage(image: ImageRef, onProgress: (p: PullProgress) => void, signal: AbortSignal, taskAuth?: TaskPullAuth): Promise<void> {
    let downloaded = 0;
    const track = (p: PullProgress): void => {
      downloaded = Math.max(downloaded, p.currentBytes);
      onProgress(p);
    };
    const started = performance.now();
    let result = 'error';
    try {
      await this.timed('pull_image', () => this.inner.pullImage(image, track, signal, taskAuth));
      result = 'ok';
    } finally {
      this.metrics.imagePullBytes.inc(downloaded);
      this.metrics.imagePullSeconds.observe({ result }, (performance.now() - started) / 1000);
    }
  }

  createContainer(spec: ContainerSpec): Promise<string> {
    return this.timed('create_container', () => this.inner.createContainer(spec));
  }

  startContainer(id: string): Promise<void> {
    return this.timed('start_container', () => this.inner.startContainer(id));
  }

  /** Not timed: it lasts as long as the task. Its failures still count. */
  waitContainer(id: string, signal?: AbortSignal, exitCodeOnly?: () => boolean): Promise<ContainerExit> {
    return this.counted('wait_container', () => this.inner.waitContainer(id, signal, exitCodeOnly));
  }

  stopContainer(id: string, graceSeconds: number): Promise<void> {
    return this.timed('stop_container', () => this.inner.stopContainer(id, graceSeconds));
  }

  removeContainer(id: string): Promise<void> {
    return this.timed('remove_container', () => this.inner.removeContainer(id));
  }

  containerOutput(id: string, maxBytes: number): Promise<string> {
    return this.timed('container_output', () => this.inner.containerOutput(id, maxBytes));
  }

  listContainers(labels: Readonly<Record<string, string>>): Promise<ContainerSummary[]> {
    return this.timed('list_containers', () => this.inner.listContainers(labels));
  }

  /** Not timed (it lasts as long as the container); a failure to start or to go on reading counts. */
  async *followOutput(id: string, options: FollowOutputOptions): AsyncGenerator<readonly ContainerOutputLine[]> {
    const operation = 'follow_output';
    if (this.inner.followOutput === undefined) {
      this.metrics.engineErrors.inc({ operation, kind: 'engine' });
      throw new RuntimeError('engine', 'this container runtime cannot follow container output');
    }
    try {
      yield* this.inner.followOutput(id, options);
    } catch (err) {
      if (!isRuntimeError(err, 'aborted')) this.metrics.engineErrors.inc({ operation, kind: failureKind(err) });
      throw err;
    }
  }

  private async timed<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const end = this.metrics.engineCallSeconds.startTimer({ operation });
    try {
      return await this.counted(operation, call);
    } finally {
      end();
    }
  }

  private async counted<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      // A kill cancelling a pull is the executor's own doing, not an engine error.
      if (!isRuntimeError(err, 'aborted')) this.metrics.engineErrors.inc({ operation, kind: failureKind(err) });
      throw err;
    }
  }
}
