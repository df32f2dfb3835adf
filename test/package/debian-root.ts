/**
 * A clean Debian 12 root for the install test: debootstrap (minbase) once,
 * cached as a tarball under /var/cache/titus-executor-test, unpacked afresh per
 * run. Commands run in it through chroot inside a private mount namespace
 * (unshare -m), so its /dev, /proc and the bind-mounted engine socket are
 * never visible on the host and vanish with the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../src/common/command-runner.js';

export const CACHE_DIR = '/var/cache/titus-executor-test';
const TARBALL = join(CACHE_DIR, 'debian-bookworm-minbase.tar');
const APT_ARCHIVES = join(CACHE_DIR, 'apt-archives');
const SUITE = 'bookworm';

/** Debian's mirror as the host's apt is configured (deb822 .sources or one-line .list), else deb.debian.org. */
export const debianMirror = (): string => {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))];
  for (const file of files) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    for (const m of text.matchAll(/^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)) {
      const uri = m[1] ?? '';
      if (/\/debian\/?$/.test(uri)) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
};

const listDir = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/** Makes the cached tarball if missing; returns how long that took (0 when cached). */
export const ensureRootTarball = async (): Promise<number> => {
  if (existsSync(TARBALL)) return 0;
  const started = Date.now();
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = join(CACHE_DIR, `build-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  try {
    await runCommand(['debootstrap', '--variant=minbase', SUITE, dir, debianMirror()], { timeoutMs: 900_000 });
    // Leave out downloaded .debs: the per-run apt cache below keeps those.
    rmSync(join(dir, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(dir, 'var/cache/apt/archives/partial'), { recursive: true });
    await runCommand(['tar', '-C', dir, '-cf', `${TARBALL}.tmp`, '.'], { timeoutMs: 300_000 });
    renameSync(`${TARBALL}.tmp`, TARBALL);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return (Date.now() - started) / 1000;
};

export interface DebianRoot {
  readonly dir: string;
  /** Runs argv inside the root (clean environment, stdin closed). */
  run(argv: readonly string[], opts?: { allowFailure?: boolean; timeoutMs?: number }): Promise<CommandResult>;
  /** Starts argv inside the root in the background. */
  spawn(argv: readonly string[]): ChildProcess;
  /** A path inside the root, seen from the host. */
  path(inside: string): string;
}

const ENV = ['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'DEBIAN_FRONTEND=noninteractive'];

// $1 root, $2 engine socket to bind at /run/docker.sock, then the command.
const ENTER = [
  'set -e',
  'root=$1; sock=$2; shift 2',
  'mount --rbind /dev "$root/dev"',
  'mount -t proc proc "$root/proc"',
  'mount -t sysfs -o ro sysfs "$root/sys"',
  'mount --bind /var/cache/titus-executor-test/apt-archives "$root/var/cache/apt/archives"',
  'touch "$root/run/docker.sock"',
  'mount --bind "$sock" "$root/run/docker.sock"',
  'exec chroot "$root" "$@"',
].join('\n');

/** Unpacks a fresh root under `parent`, set up for apt and the harness engine at /run/docker.sock. */
export const unpackRoot = async (parent: string, engineSocket: string): Promise<DebianRoot> => {
  const dir = join(parent, 'root');
  mkdirSync(dir, { recursive: true });
  mkdirSync(join(APT_ARCHIVES, 'partial'), { recursive: true });
  await runCommand(['tar', '-C', dir, '-xf', TARBALL], { timeoutMs: 300_000 });
  writeFileSync(join(dir, 'etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
  // As in a container image build: packages (docker.io) must not start services here.
  writeFileSync(join(dir, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
  chmodSync(join(dir, 'usr/sbin/policy-rc.d'), 0o755);
  const argvFor = (argv: readonly string[]): string[] => ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', ENTER, 'enter', dir, engineSocket, ...ENV, ...argv];
  return {
    dir,
    run: (argv, opts = {}) => runCommand(argvFor(argv), { timeoutMs: opts.timeoutMs ?? 600_000, allowFailure: opts.allowFailure ?? false, input: '' }), // stdin at EOF: a dpkg prompt fails instead of hanging
    spawn: (argv) => {
      const [file, ...args] = argvFor(argv);
      return spawn(file ?? 'unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    path: (inside) => join(dir, inside),
  };
};
