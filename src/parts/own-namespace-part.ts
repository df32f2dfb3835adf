import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerSummary } from '../runtime/container-runtime.js';
import type { BindMount } from '../runtime/container-spec.js';
import { hostnameFor } from '../task/build-container-spec.js';
import type { PartCapacity, PartGrant, TaskHandle, TaskPart } from '../task/task-part.js';
import type { LaunchSpec } from '../task/types.js';
import { hostsFileFor, OWN_NAME_ADDRESS, readHostResolvConf, resolvConfFor } from './sandbox.js';

/** Where the task files live: `<stateDir>/task-files/<taskId>/{hosts,resolv.conf}`. */
export const taskFilesDir = (stateDir: string): string => join(stateDir, 'task-files');

/**
 * For `network.driver: none`: the task's container gets a network namespace
 * of its own, with only lo, from the OCI runtime (the engine's
 * `NetworkDisabled`) instead of from the engine's network stack (network mode
 * `none`). Both give the same namespace; the engine's way also builds a
 * libnetwork sandbox and runs a prestart hook that re-executes dockerd, which
 * is about half of the CPU of a container start and about 100 ms of its
 * latency on a quiet host.
 *
 * The engine then writes no /etc/hosts or /etc/resolv.conf for the container,
 * so this part writes them (the engine's lines, the task's hostname on
 * 127.0.1.1, and the host's resolv.conf as the engine would filter it) into a
 * directory of the task's, and the container bind-mounts them. /etc/hostname
 * and the hostname are still the engine's. The directory goes at release, and
 * after a restart every directory that no live task owns goes too.
 *
 * It is off (tasks keep the engine's network mode `none`) until
 * createOwnNamespacePart has shown that the engine sees the files this
 * executor writes: not so for an engine on another host, or an executor in a
 * mount namespace of its own (a container, a chroot).
 *
 * `first`, when set (the warm sandbox pool), is asked first: a task it hands a
 * sandbox to joins that sandbox, and this part grants nothing of its own.
 */
export class OwnNamespacePart implements TaskPart {
  readonly name = 'own-namespace';
  /** Tasks this process wrote files for: a recovery that runs after their launch leaves them alone. */
  private readonly written = new Set<string>();
  /** Off until the engine is known to see this host's files (create-own-namespace-part.ts): the engine's `none` until then. */
  private on = false;
  private why = 'not probed yet';

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly first?: TaskPart,
  ) {}

  async acquire(launch: LaunchSpec, signal: AbortSignal, task: TaskHandle): Promise<PartGrant> {
    // A pod's containers share their pod's network (SharedNetworkPart).
    if (launch.sharedNetwork !== undefined) return {};
    const pooled = await this.first?.acquire(launch, signal, task);
    if (pooled?.networkMode !== undefined || !this.on) return pooled ?? {};
    this.written.add(launch.taskId);
    const mounts = await this.writeFiles(launch);
    return { ...pooled, networkMode: 'none', networkDisabled: true, mounts: [...(pooled?.mounts ?? []), ...mounts] };
  }

  async release(taskId: string): Promise<void> {
    // Nothing waits for the files once the container is gone: they go beside the
    // rest of the task's end, not before it (a crash meanwhile leaves them to recovery).
    void this.removeFiles(taskId);
    await this.first?.release(taskId);
  }

  /** Never throws: what cannot be removed now is removed by the next restart's recovery. */
  private async removeFiles(taskId: string): Promise<void> {
    try {
      await rm(join(this.dir, taskId), { recursive: true, force: true });
    } catch (err) {
      this.log.warn({ taskId, err: errorMessage(err) }, "cannot remove the task's /etc files; the next restart's recovery will");
    } finally {
      this.written.delete(taskId);
    }
  }

  async reconcileAfterRestart(containers: readonly ContainerSummary[], live: ReadonlySet<string>): Promise<void> {
    await this.first?.reconcileAfterRestart?.(containers, live);
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const name of names) {
      if (live.has(name) || this.written.has(name)) continue;
      try {
        await rm(join(this.dir, name), { recursive: true, force: true });
        removed.push(name);
      } catch (err) {
        this.log.error({ taskId: name, err: errorMessage(err) }, 'cannot remove the /etc files of a task that is gone');
      }
    }
    if (removed.length > 0) this.log.info({ removed }, 'removed the /etc files of tasks that are gone');
  }

  /** From now on tasks get their namespace from the OCI runtime; `false` (and why): from the engine. */
  setOn(on: boolean, why = ''): void {
    this.on = on;
    this.why = why;
  }

  capacity(): PartCapacity {
    const pooled = this.first?.capacity?.() ?? {};
    const line = this.on ? 'task namespaces: from the OCI runtime (NetworkDisabled)' : `task namespaces: from the engine (network mode none): ${this.why}`;
    const status = pooled.status === undefined ? [] : typeof pooled.status === 'string' ? [pooled.status] : pooled.status;
    return { ...pooled, status: [...status, line] };
  }

  private async writeFiles(launch: LaunchSpec): Promise<BindMount[]> {
    const dir = join(this.dir, launch.taskId);
    const hostname = launch.hostname ?? hostnameFor(launch.taskId);
    const hosts = join(dir, 'hosts');
    const resolv = join(dir, 'resolv.conf');
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await Promise.all([
        writeFile(hosts, hostsFileFor(hostname, [OWN_NAME_ADDRESS]), { mode: 0o644 }),
        readHostResolvConf().then((conf) => writeFile(resolv, resolvConfFor(conf), { mode: 0o644 })),
      ]);
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot write the task's /etc/hosts and /etc/resolv.conf in ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    return [
      { source: hosts, target: '/etc/hosts' },
      { source: resolv, target: '/etc/resolv.conf' },
    ];
  }
}
