/**
 * A filesystem of its own for a harness engine's data root: a sparse file,
 * made into xfs (optionally mounted with project quota) or btrfs, and
 * loop-mounted. Nothing of it outlives the harness: the mount goes with
 * unmountUnder(dir) and the loop device with detachLoopsUnder(dir), on every
 * stop path (harness stop and the exit hook).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, CommandError } from '../../src/common/command-runner.js';
import { harnessEnv } from './proc.js';

/**
 * xfs-pquota: overlay2 on xfs with project quota (the engine enforces sizes);
 * xfs: overlay2 on xfs without it (the engine refuses sizes);
 * btrfs: the btrfs storage driver (a qgroup per container).
 */
export type DataRootFs = 'xfs-pquota' | 'xfs' | 'btrfs';

/** The storage driver the engine runs on each filesystem. */
export const STORAGE_DRIVER: Readonly<Record<DataRootFs, string>> = { 'xfs-pquota': 'overlay2', xfs: 'overlay2', btrfs: 'btrfs' };

/** The machine cannot give this filesystem (no loop devices, a kernel without XFS quota): a test skips, naming why. */
export class LoopFsUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoopFsUnsupported';
  }
}

/** xfs needs at least 300 MiB; sparse, so only what is written takes space. */
const SIZE_MIB = 512;

const mkfsArgv = (fs: DataRootFs, image: string): string[] =>
  fs === 'btrfs' ? ['mkfs.btrfs', '-q', '-f', image] : ['mkfs.xfs', '-q', '-f', image];

const run = (argv: readonly string[]) => runCommand(argv, { env: harnessEnv(), timeoutMs: 60_000, allowFailure: true });

const mountLoop = (image: string, mountPoint: string, options: readonly string[]) => run(['mount', '-o', ['loop', ...options].join(','), image, mountPoint]);

/**
 * Makes `<dir>/data.img` and mounts it on `<dir>/data` (the engine's data
 * root). Fails with LoopFsUnsupported when this machine cannot do it at all.
 */
export const makeDataRootFs = async (dir: string, fs: DataRootFs): Promise<string> => {
  const image = join(dir, 'data.img');
  const mountPoint = join(dir, 'data');
  await mkdir(mountPoint);
  const file = await open(image, 'w');
  try {
    await file.truncate(SIZE_MIB * 1024 * 1024);
  } finally {
    await file.close();
  }
  // A missing mkfs is a setup error (scripts/setup.sh installs xfsprogs and btrfs-progs), not a skip.
  const mkfs = await runCommand(mkfsArgv(fs, image), { env: harnessEnv(), timeoutMs: 60_000 });
  if (mkfs.code !== 0) throw new CommandError(mkfsArgv(fs, image), 'exit', mkfs.code, mkfs.stderr, `mkfs failed: ${mkfs.stderr}`);
  const options = fs === 'xfs-pquota' ? ['pquota'] : [];
  const mounted = await mountLoop(image, mountPoint, options);
  if (mounted.code === 0) return mountPoint;
  const why = mounted.stderr.trim();
  if (/loop/i.test(why) && !/wrong fs type|bad option/i.test(why)) throw new LoopFsUnsupported(`no loop device for a ${fs} data root: ${why}`);
  if (fs === 'xfs-pquota') {
    // Tell "no project quota in this kernel" from any other failure: the same image without pquota.
    const plain = await mountLoop(image, mountPoint, []);
    if (plain.code === 0) {
      spawnSync('umount', [mountPoint], { stdio: 'ignore', timeout: 10_000 });
      detachLoopsUnder(dir);
      throw new LoopFsUnsupported('this kernel mounts xfs but not with pquota (built without CONFIG_XFS_QUOTA)');
    }
  }
  detachLoopsUnder(dir);
  throw new Error(`mount -o loop${options.map((o) => `,${o}`).join('')} ${image} failed: ${why}`);
};

/** Loop devices whose backing file is under `dir` (attached, or marked for autoclear but still in use). */
export const loopDevicesUnder = (dir: string): string[] => {
  const listed = spawnSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8', timeout: 10_000 });
  if (listed.status !== 0) return [];
  return listed.stdout
    .split('\n')
    .map((line) => /^(\S+) (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && (m[2] ?? '').startsWith(`${dir}/`))
    .map((m) => m[1] ?? '');
};

/**
 * Detaches every loop device whose backing file is under `dir` (one left
 * attached after a lazy unmount, or after a mount that failed half-way).
 * Synchronous, for the exit hook. Returns the devices still attached.
 */
export const detachLoopsUnder = (dir: string): string[] => {
  for (const device of loopDevicesUnder(dir)) spawnSync('losetup', ['--detach', device], { stdio: 'ignore', timeout: 10_000 });
  // A device still in use (a lazily unmounted fs) is only marked for autoclear: it goes when released.
  return loopDevicesUnder(dir);
};
