import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerSummary } from '../runtime/container-runtime.js';
import { EFS_ID_RE, efsMountsOf, type EfsMount } from '../task/efs-config.js';
import type { PartGrant, TaskPart } from '../task/task-part.js';
import type { LaunchSpec } from '../task/types.js';
import type { VolumesConfig } from '../volumes/config.js';
import { efsServerName, NfsMounter, type NfsVolume } from '../volumes/nfs-mounter.js';

/**
 * A task's EFS / NFS volumes (ContainerInfo.efsConfigInfo; a pod's nfs
 * volumes arrive the same way) as a part: mounted on the host before the
 * container is created, bind-mounted into it at each mount point (read-only
 * for RO, in the mount options and in the bind), unmounted on release, which
 * the core calls on every path a task ends by. After a restart the mounts of
 * live tasks are kept and those of tasks that are gone are unmounted.
 */
export class VolumeTaskPart implements TaskPart {
  readonly name = 'volumes';

  constructor(
    private readonly mounter: NfsMounter,
    private readonly config: Pick<VolumesConfig, 'efsRegion' | 'efsDomain'>,
    private readonly log: Logger,
    /** Tasks that other processes of this host run (run-task), whose volumes share the mount directory. */
    private readonly otherLiveTasks: () => ReadonlySet<string> = () => new Set(),
  ) {}

  /** EFS ids need the region their DNS name is in; without it the launch is refused, not failed later. */
  admit(launch: LaunchSpec): void {
    for (const m of efsMountsOf(launch.containerInfo)) {
      if (EFS_ID_RE.test(m.fsId) && this.config.efsRegion === '') {
        throw new ExecutorError('FAILED_PRECONDITION', `${m.field}.efsFsId: EFS file system ids need volumes.efsRegion (or AWS_REGION) set on this host`, {
          field: `${m.field}.efsFsId`,
        });
      }
    }
  }

  async acquire(launch: LaunchSpec, signal: AbortSignal): Promise<PartGrant> {
    const wanted = efsMountsOf(launch.containerInfo);
    if (wanted.length === 0) return {};
    const mounted = await this.mounter.mountAll(launch.taskId, wanted.map((m) => this.nfsVolume(m)), signal);
    return {
      mounts: mounted.map((v, i) => ({ source: v.hostDir, target: wanted[i]?.mountPoint ?? '', readOnly: v.readOnly })),
    };
  }

  private nfsVolume(m: EfsMount): NfsVolume {
    return { server: EFS_ID_RE.test(m.fsId) ? efsServerName(m.fsId, this.config) : m.fsId, exportPath: m.exportPath, readOnly: m.readOnly };
  }

  async release(taskId: string): Promise<void> {
    await this.mounter.unmountTask(taskId);
  }

  /** Mounts of live tasks stay (their containers use them); everything else under the mount directory goes. */
  async reconcileAfterRestart(_containers: readonly ContainerSummary[], live: ReadonlySet<string>): Promise<void> {
    const others = this.otherLiveTasks();
    for (const taskId of await this.mounter.tasksOnHost()) {
      if (live.has(taskId) || others.has(taskId)) {
        this.log.info({ taskId }, 'volumes of a live task kept after the restart');
        continue;
      }
      try {
        await this.mounter.unmountTask(taskId);
        this.log.warn({ taskId }, 'unmounted the volumes of a task that is gone');
      } catch (err) {
        this.log.error({ taskId, err: errorMessage(err) }, 'could not unmount the volumes of a task that is gone');
      }
    }
  }
}

export const createVolumePart = (config: VolumesConfig, log: Logger, otherLiveTasks?: () => ReadonlySet<string>): VolumeTaskPart =>
  new VolumeTaskPart(new NfsMounter(config, log), config, log, otherLiveTasks);
