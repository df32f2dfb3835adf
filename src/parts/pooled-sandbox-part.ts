import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerSummary } from '../runtime/container-runtime.js';
import { LABEL } from '../runtime/labels.js';
import { hostnameFor } from '../task/build-container-spec.js';
import type { PartCapacity, PartGrant, TaskPart } from '../task/task-part.js';
import type { LaunchSpec } from '../task/types.js';
import { OWN_NAME_ADDRESS, type SandboxManager } from './sandbox.js';
import { POOLED_SANDBOX_LABEL, POOLED_SANDBOX_ROLE, type SandboxPool } from './sandbox-pool.js';

export { POOLED_SANDBOX_LABEL };

export interface PooledSandboxPartOptions {
  /** The OCI runtime that runs the hostname hook (oci-add-hooks). */
  readonly runtime: string;
  /** The sandbox memory limit, for the capacity line. */
  readonly sandboxMemoryMb: number;
  /**
   * Whether this part hands sandboxes to tasks (driver none). With a network
   * driver the network part takes them from the pool itself, attaches them and
   * removes them at release, after its detach; this part then only removes,
   * after a restart, the pooled sandboxes no live task joined.
   */
  readonly handsOut: boolean;
}

/**
 * For `network.driver: none`: a task joins a sandbox from the warm pool
 * (`container:<sandbox>`) instead of getting a namespace made at its start. Its /etc/hosts,
 * /etc/resolv.conf and /etc/hostname are written in that sandbox's directory,
 * so they are the task's alone; its hostname is set by the hook its runtime
 * runs. With the pool empty the grant is empty and OwnNamespacePart, which
 * asks this part first, gives the task a namespace of its own.
 * A pod container (shared network) is never pooled. The sandbox is removed
 * at release, after the task's container.
 */
export class PooledSandboxPart implements TaskPart {
  readonly name = 'sandbox-pool';
  /** Task id -> the pooled sandbox it joined. */
  private readonly held = new Map<string, string>();

  constructor(
    private readonly pool: SandboxPool,
    private readonly sandboxes: SandboxManager,
    private readonly options: PooledSandboxPartOptions,
    private readonly log: Logger,
  ) {}

  async acquire(launch: LaunchSpec): Promise<PartGrant> {
    if (launch.sharedNetwork !== undefined || !this.options.handsOut) return {};
    const sandbox = this.pool.take();
    if (sandbox === undefined) {
      this.log.debug({ taskId: launch.taskId }, 'sandbox pool empty; the task gets a namespace of its own');
      return {};
    }
    this.held.set(launch.taskId, sandbox.id);
    const hostname = launch.hostname ?? hostnameFor(launch.taskId);
    const mounts = [...(await this.sandboxes.writeNetworkFiles(sandbox, hostname, [OWN_NAME_ADDRESS])), await this.sandboxes.writeHostnameFile(sandbox, hostname)];
    return {
      networkMode: `container:${sandbox.id}`,
      runtime: this.options.runtime,
      mounts,
      labels: { [POOLED_SANDBOX_LABEL]: sandbox.id },
    };
  }

  async release(taskId: string): Promise<void> {
    const id = this.held.get(taskId);
    if (id === undefined) return;
    this.held.delete(taskId);
    try {
      await this.sandboxes.removeById(id);
    } catch (err) {
      // The engine is down or restarting: the pool tries again until it is gone.
      this.log.warn({ taskId, sandbox: id.slice(0, 12), err: errorMessage(err) }, 'cannot remove the task\'s pooled sandbox yet; retrying');
      this.pool.discard(id);
    }
  }

  /**
   * Live tasks keep the sandboxes their containers joined; every other pooled
   * sandbox a previous process of this executor made (idle, or of a task that
   * is gone) is removed. This process's own pool is not touched.
   */
  async reconcileAfterRestart(containers: readonly ContainerSummary[], live: ReadonlySet<string>): Promise<void> {
    const kept = new Set<string>();
    for (const c of containers) {
      const taskId = c.labels[LABEL.taskId];
      const sandboxId = c.labels[POOLED_SANDBOX_LABEL];
      if (taskId === undefined || sandboxId === undefined || !live.has(taskId)) continue;
      // With a network driver the network part adopts it (recoverNetwork: running containers only) and removes it
      // after its detach; the sandbox of a container that stopped meanwhile is nobody's, so it goes here.
      if (!this.options.handsOut && c.state !== 'running') continue;
      if (this.options.handsOut) this.held.set(taskId, sandboxId);
      kept.add(sandboxId);
    }
    const removed: string[] = [];
    for (const s of await this.sandboxes.list(POOLED_SANDBOX_ROLE)) {
      if (kept.has(s.id) || this.pool.holds(s.id) || s.labels[LABEL.executorPid] === String(process.pid)) continue;
      try {
        await this.sandboxes.removeById(s.id);
        removed.push(s.name);
      } catch (err) {
        this.log.error({ sandbox: s.name, err: errorMessage(err) }, 'cannot remove a pooled sandbox left by a previous executor');
      }
    }
    this.log.info({ adopted: kept.size, removed }, 'pooled sandboxes recovered after restart');
  }

  capacity(): PartCapacity {
    const p = this.pool;
    return {
      status: `sandbox pool: ${p.ready}/${p.size} ready (each up to ${this.options.sandboxMemoryMb} MiB); ${p.handedOut} launches pooled, ${p.missed} fell back`,
    };
  }
}
