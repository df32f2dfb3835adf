/**
 * Process helpers for the harness daemons: starting them with output to a log
 * file, stopping them with escalation, and finding every process that belongs
 * to one harness by looking at /proc (dockerd's children outlive it when it is
 * killed, so the child handle alone is not enough).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** System dirs appended to PATH: dockerd, runc and containerd live in sbin dirs that a non-login PATH may lack. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const harnessEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${process.env['PATH'] ?? ''}:${SYSTEM_PATH}`, ...extra };
  // The harness always names its engine explicitly; an inherited context or
  // TLS setting would point the CLI somewhere else.
  for (const key of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete env[key];
  return env;
};

/** Starts a long-lived daemon whose stdout and stderr go to `logPath`. */
export const spawnDaemon = (argv: readonly string[], logPath: string, env: NodeJS.ProcessEnv): ChildProcess => {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('spawnDaemon: empty argv');
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(file, args, { stdio: ['ignore', fd, fd], detached: false, env });
    // Without a listener a failed spawn (ENOENT) would crash the test process;
    // callers notice it as an early exit instead.
    child.on('error', () => undefined);
    // A test that forgets stop() must still let its process exit (the 'exit'
    // hook then kills the daemon) instead of hanging until tap's timeout.
    child.unref();
    return child;
  } finally {
    closeSync(fd); // the child holds its own copy
  }
};

export const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** Resolves true once `child` has exited, false if it is still running after `timeoutMs`. */
export const waitForExit = (child: ChildProcess, timeoutMs: number): Promise<boolean> => {
  if (hasExited(child) || child.pid === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
};

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export const terminate = async (child: ChildProcess, graceMs: number): Promise<void> => {
  if (hasExited(child) || child.pid === undefined) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, graceMs)) return;
  child.kill('SIGKILL');
  if (!(await waitForExit(child, 5_000))) throw new Error(`process ${child.pid} survived SIGKILL`);
};

/** True while `pid` exists and is not a zombie (a zombie is dead, merely unreaped). */
export const isAlive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
};

const readCmdline = (pid: string): string[] => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};

const readLink = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
};

/**
 * True when the process lives in another mount namespace whose root is
 * mounted from under `dir`, as a container's overlay rootfs is. (Its
 * /proc/<pid>/root reads as '/', so the root mount's options are what name
 * the harness dir: `upperdir=<dir>/data/overlay2/…`.)
 */
const rootMountedFrom = (pid: string, dir: string, ownMountNs: string): boolean => {
  const ns = readLink(`/proc/${pid}/ns/mnt`);
  if (ns === '' || ns === ownMountNs) return false;
  try {
    const info = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
    return info.split('\n').some((line) => line.split(' ')[4] === '/' && line.includes(`${dir}/`));
  } catch {
    return false;
  }
};

/**
 * Pids of live processes that belong to the harness in `dir`: those with `dir`
 * in their command line (dockerd, containerd, shims, the registry) and those
 * whose root filesystem is mounted from under it (container processes).
 */
export const processesUsing = (dir: string): number[] => {
  const ownMountNs = readLink('/proc/self/ns/mnt');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const mentionsDir = readCmdline(entry).some((arg) => arg.includes(`${dir}/`) || arg.endsWith(dir));
    if ((mentionsDir || rootMountedFrom(entry, dir, ownMountNs)) && isAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
};

/** Sends SIGKILL to each pid, ignoring those already gone. */
export const killAll = (pids: readonly number[]): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};

/** SIGKILLs every process of the harness in `dir` and waits until none is left. */
export const killEverythingUsing = async (dir: string, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = processesUsing(dir);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes of ${dir} survived SIGKILL: ${pids.join(', ')}`);
    killAll(pids);
    await sleep(50);
  }
};
