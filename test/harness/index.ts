/**
 * Test harness: a real, private Docker engine plus a real loopback registry
 * holding a few busybox test images, per test file, with no internet.
 *
 *   const h = await useHarness(t);
 *   await h.docker(['pull', h.images.busybox]);
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDockerd, type Dockerd, type EngineRestartOptions } from './dockerd.js';
import { trackForExitCleanup, untrack } from './exit-cleanup.js';
import { buildTestImages, type TestImages } from './images.js';
import { unmountUnder } from './mounts.js';
import { detachLoopsUnder, makeDataRootFs, STORAGE_DRIVER, type DataRootFs } from './loop-fs.js';
import { killEverythingUsing } from './proc.js';
import { startRegistry, type Registry } from './registry.js';
import { runCommand } from '../../src/common/command-runner.js';

export { containersWithLabel, leftoversOf, type Leftovers } from './leak-check.js';
export type { TestImages } from './images.js';
export type { EngineRestartOptions } from './dockerd.js';
export { LoopFsUnsupported, loopDevicesUnder, type DataRootFs } from './loop-fs.js';

export interface Harness {
  readonly runId: string;
  readonly dockerSocket: string;
  readonly dockerHost: string;
  readonly registry: string;
  readonly images: TestImages;
  docker(args: string[], opts?: { input?: string; allowFailure?: boolean }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Restarts the engine (SIGTERM or, with opts.signal, SIGKILL; down for `downMs`; started again on the same data root and socket). */
  restartEngine(downMs?: number, opts?: EngineRestartOptions): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra OCI runtimes, passed to dockerd as --add-runtime name=path. */
  runtimes?: Record<string, string>;
  /** Build and push the test images (default true); without them `images` throws. */
  withImages?: boolean;
  /** `live-restore` in the engine's daemon.json: containers outlive a dockerd that goes down. */
  liveRestore?: boolean;
  /**
   * The engine's data root on a loop-mounted filesystem of its own (loop-fs.ts):
   * xfs with pquota (overlay2 enforces container sizes), xfs without, or btrfs.
   * Fails with LoopFsUnsupported where the machine cannot.
   */
  dataRootFs?: DataRootFs;
  /** Which test images to build: all (default), or only busybox (faster; the others throw). */
  images?: 'all' | 'busybox';
}

/**
 * containerd's sockets live at <dir>/x/containerd/containerd.sock.ttrpc; unix
 * socket paths are limited to 107 bytes, so a long TMPDIR falls back to /tmp.
 */
const tempBase = (): string => {
  const base = tmpdir();
  const longest = join(base, 'titus-harness-XXXXXX', 'x', 'containerd', 'containerd.sock.ttrpc');
  return longest.length <= 100 ? base : '/tmp';
};

interface Parts {
  dockerd?: Dockerd;
  registry?: Registry;
}

/** Runs every cleanup step even when one fails, then reports all failures. */
const stopParts = async (dir: string, parts: Parts): Promise<void> => {
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  };
  await Promise.all([step(async () => parts.dockerd?.stop()), step(async () => parts.registry?.stop())]);
  // containerd and the shims outlive a dockerd that had to be SIGKILLed; containers outlive their shims.
  await step(() => killEverythingUsing(dir, 10_000));
  await step(async () => {
    const stuck = unmountUnder(dir);
    if (stuck.length > 0) throw new Error(`still mounted: ${stuck.join(', ')}`);
  });
  // A data root on its own filesystem (opts.dataRootFs) leaves a loop device behind its mount.
  await step(async () => {
    // The kernel lets go of a loop device a moment after the unmount of its filesystem
    // (seen under CI load: still attached when asked at once): ask again for up to 5 s.
    let attached = detachLoopsUnder(dir);
    for (let i = 0; i < 50 && attached.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      attached = detachLoopsUnder(dir);
    }
    if (attached.length > 0) throw new Error(`loop devices still attached after 5 s: ${attached.join(', ')}`);
  });
  await step(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
  untrack(dir);
  if (errors.length > 0) throw new AggregateError(errors, `harness ${dir} did not stop cleanly`);
};

/** Starts dockerd and the registry side by side; whatever started is recorded in `parts` even if the other failed. */
const startDaemons = async (dir: string, runId: string, opts: HarnessOptions, parts: Parts): Promise<void> => {
  const fs = opts.dataRootFs;
  const startEngine = async (): Promise<Dockerd> => {
    if (fs !== undefined) await makeDataRootFs(dir, fs);
    return startDockerd(dir, runId, {
      runtimes: opts.runtimes ?? {},
      ...(opts.liveRestore === true ? { liveRestore: true } : {}),
      ...(fs !== undefined ? { storageDriver: STORAGE_DRIVER[fs] } : {}),
    });
  };
  const [dockerd, registry] = await Promise.allSettled([startEngine(), startRegistry(dir, runId)]);
  if (dockerd.status === 'fulfilled') parts.dockerd = dockerd.value;
  if (registry.status === 'fulfilled') parts.registry = registry.value;
  if (dockerd.status === 'rejected') throw dockerd.reason;
  if (registry.status === 'rejected') throw registry.reason;
};

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const runId = `h${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(tempBase(), 'titus-harness-'));
  trackForExitCleanup(dir);
  const parts: Parts = {};
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopParts(dir, parts));
  try {
    await startDaemons(dir, runId, opts, parts);
    const { dockerd, registry } = parts;
    if (dockerd === undefined || registry === undefined) throw new Error('unreachable: daemons not started');
    const images = opts.withImages === false ? undefined : await buildTestImages(dockerd.docker, dockerd.socket, dir, registry.address, opts.images);
    return {
      runId,
      dockerSocket: dockerd.socket,
      dockerHost: dockerd.host,
      registry: registry.address,
      get images(): TestImages {
        if (images === undefined) throw new Error('this harness was started with withImages: false');
        return images;
      },
      docker: (args, dockerOpts) => dockerd.docker(args, dockerOpts),
      restartEngine: (downMs, restartOpts) => dockerd.restart(downMs, restartOpts),
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined); // the start error is the one worth reporting
    throw err;
  }
}

/** startHarness plus t.teardown(stop), so the engine goes away however the test ends. */
export async function useHarness(t: { teardown(fn: () => unknown): void }, opts?: HarnessOptions): Promise<Harness> {
  const h = await startHarness(opts);
  t.teardown(() => h.stop());
  return h;
}

export interface ImageSource {
  readonly registry: string;
  readonly images: TestImages;
  stop(): Promise<void>;
}

/**
 * A loopback registry holding the test images, built and pushed through an
 * engine that is already running (unix socket). The demo uses it when the host
 * has an engine; everything else starts a private engine with startHarness.
 */
export async function startImageSource(dockerSocket: string): Promise<ImageSource> {
  const runId = `h${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(tempBase(), 'titus-images-'));
  trackForExitCleanup(dir);
  const parts: Parts = {};
  const stop = (): Promise<void> => stopParts(dir, parts);
  try {
    parts.registry = await startRegistry(dir, runId);
    const docker = (args: readonly string[], o?: { input?: string; allowFailure?: boolean }) =>
      runCommand(['docker', '-H', `unix://${dockerSocket}`, ...args], { timeoutMs: 120_000, ...(o ?? {}) });
    const images = await buildTestImages(docker, dockerSocket, dir, parts.registry.address);
    return { registry: parts.registry.address, images, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
