import { access, mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, runCommand } from '../common/command-runner.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { VolumesConfig } from './config.js';
import { mountPointsUnder } from './mountinfo.js';

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** One NFS export as the mounter sees it. */
export interface NfsVolume {
  /** The server: a DNS name or an IPv4 address. */
  readonly server: string;
  /** Absolute path on the server. */
  readonly exportPath: string;
  readonly readOnly: boolean;
}

/** A volume mounted on the host, ready to be bind-mounted into the task's container. */
export interface MountedVolume {
  readonly hostDir: string;
  readonly readOnly: boolean;
}

/** A mount the kernel, the server or the mount program refused; the message has their words. */
export class VolumeMountFailure extends Error {
  constructor(
    message: string,
    readonly volume: NfsVolume,
  ) {
    super(message);
    this.name = 'VolumeMountFailure';
  }
}

/** Task ids name directories here; anything else in mountDir is not the executor's. */
const TASK_DIR_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** `fs-1234abcd` → `fs-1234abcd.efs.us-east-1.amazonaws.com`, the name EFS mount targets answer to in the VPC. */
export const efsServerName = (fsId: string, config: Pick<VolumesConfig, 'efsRegion' | 'efsDomain'>): string =>
  `${fsId}.efs.${config.efsRegion}.${config.efsDomain}`;

/** The mount command line for one volume: `mount -t nfs4 -o <options>,ro|rw <server>:<path> <dir>`. */
export const nfsMountArgv = (volume: NfsVolume, hostDir: string, config: Pick<VolumesConfig, 'mountCommand' | 'nfsOptions'>): string[] => [
  ...config.mountCommand,
  '-t',
  'nfs4',
  '-o',
  [...config.nfsOptions, volume.readOnly ? 'ro' : 'rw'].join(','),
  `${volume.server}:${volume.exportPath}`,
  hostDir,
];

/**
 * Mounts a task's NFS volumes on the host, each under
 * `<mountDir>/<taskId>/<n>`, and unmounts them. Keeps no state of its own:
 * what is mounted is read back from the kernel (mountinfo), so an executor
 * that restarts finds every mount a crash left.
 */
export class NfsMounter {
  constructor(
    private readonly config: VolumesConfig,
    private readonly log: Logger,
  ) {}

  taskDir(taskId: string): string {
    return join(this.config.mountDir, taskId);
  }

  /**
   * Mounts every volume, in order. Whatever an earlier attempt for the task
   * left is unmounted first; if one mount fails, those done are unmounted
   * again before the error is thrown.
   */
  async mountAll(taskId: string, volumes: readonly NfsVolume[], signal?: AbortSignal): Promise<MountedVolume[]> {
    await this.unmountTask(taskId);
    const taskDir = this.taskDir(taskId);
    await mkdir(taskDir, { recursive: true, mode: 0o755 });
    const mounted: MountedVolume[] = [];
    try {
      for (const [i, volume] of volumes.entries()) {
        const hostDir = join(taskDir, String(i));
        await mkdir(hostDir, { mode: 0o755 });
        await this.mountOne(taskId, volume, hostDir, signal);
        mounted.push({ hostDir, readOnly: volume.readOnly });
      }
      return mounted;
    } catch (err) {
      await this.unmountTask(taskId).catch((cleanupErr: unknown) =>
        this.log.error({ taskId, err: errorMessage(cleanupErr) }, 'could not unmount the volumes of a task whose mounts failed'),
      );
      throw err;
    }
  }

  private async mountOne(taskId: string, volume: NfsVolume, hostDir: string, signal?: AbortSignal): Promise<void> {
    const argv = nfsMountArgv(volume, hostDir, this.config);
    const what = `${volume.server}:${volume.exportPath}`;
    const started = Date.now();
    try {
      await runCommand(argv, { timeoutMs: this.config.mountTimeoutMs, ...(signal !== undefined ? { signal } : {}) });
    } catch (err) {
      const detail =
        err instanceof CommandError
          ? err.reason === 'exit'
            ? `${argv[0] ?? 'mount'} exited with code ${err.code ?? '?'}: ${err.stderr.trim() || 'no message'}`
            : err.reason === 'timeout'
              ? `no answer within ${this.config.mountTimeoutMs} ms (volumes.mountTimeoutMs)`
              : err.message
          : signal?.aborted === true
            ? 'cancelled'
            : errorMessage(err);
      const hint = /No such device|unknown filesystem type/.test(detail) ? ' (this host\'s kernel has no NFS client: load the nfs/nfsv4 modules)' : '';
      this.log.warn({ taskId, volume: what, argv, err: detail }, 'volume mount failed');
      throw new VolumeMountFailure(`cannot mount NFS volume ${what} (${volume.readOnly ? 'read-only' : 'read-write'}): ${detail}${hint}`, volume);
    }
    this.log.info({ taskId, volume: what, hostDir, readOnly: volume.readOnly, ms: Date.now() - started }, 'volume mounted');
  }

  /**
   * Unmounts everything under the task's directory (deepest first) and
   * removes the directories. Never removes recursively: a directory that is
   * still a mount would take the server's files with it. Idempotent.
   */
  async unmountTask(taskId: string): Promise<void> {
    const taskDir = this.taskDir(taskId);
    // Nothing can be mounted under a directory that does not exist: most tasks have
    // no volumes, and reading the mount table costs milliseconds on a busy host.
    if (!(await exists(taskDir))) return;
    const points = await mountPointsUnder(taskDir);
    const failed: string[] = [];
    for (const point of points) {
      try {
        await runCommand([...this.config.unmountCommand, point], { timeoutMs: this.config.mountTimeoutMs });
        this.log.info({ taskId, dir: point }, 'volume unmounted');
      } catch (err) {
        // A server that is gone keeps a hard mount busy forever: detach it lazily rather than leave it.
        this.log.warn({ taskId, dir: point, err: errorMessage(err) }, 'unmount failed; detaching the volume lazily');
        await runCommand([...this.config.unmountCommand, '-l', point], { timeoutMs: this.config.mountTimeoutMs }).catch((lazyErr: unknown) => {
          failed.push(`${point}: ${errorMessage(lazyErr)}`);
        });
      }
    }
    if (failed.length > 0) throw new Error(`cannot unmount ${failed.join('; ')}`);
    await this.removeDirs(taskDir);
  }

  /** rmdir of each volume directory, then of the task's: fails (and says so) on anything not empty. */
  private async removeDirs(taskDir: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(taskDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of entries) await rmdir(join(taskDir, name));
    await rmdir(taskDir);
  }

  /** Task ids that have a directory here (mounted or not), for recovery after a restart. */
  async tasksOnHost(): Promise<string[]> {
    try {
      return (await readdir(this.config.mountDir)).filter((name) => TASK_DIR_RE.test(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}
