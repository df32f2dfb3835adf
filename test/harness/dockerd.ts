/**
 * A private Docker engine for one harness: its own data root, exec root (and
 * so its own supervised containerd), socket, trust key and daemon.json, so two
 * harnesses in parallel test files never share state.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand, type CommandResult } from '../../src/common/command-runner.js';
import { harnessEnv, hasExited, spawnDaemon, terminate, waitForExit } from './proc.js';

export interface DockerOptions {
  readonly input?: string;
  readonly allowFailure?: boolean;
}

export interface Dockerd {
  readonly socket: string;
  readonly host: string;
  readonly logPath: string;
  readonly child: ChildProcess;
  docker(args: readonly string[], opts?: DockerOptions): Promise<CommandResult>;
  /** Removes every container, then stops dockerd (SIGKILL after the grace period). */
  stop(): Promise<void>;
  /**
   * Stops dockerd as an operator's restart would (SIGTERM: it stops the
   * containers it runs), keeps it down for `downMs`, and starts it again on the
   * same data root and socket. Resolves once it answers /_ping.
   * With `signal: 'SIGKILL'` it dies as in a crash instead: no die events, its
   * containers' shims live on, and the restarted engine finds them (and, without
   * live-restore, stops them). `until`: it stays down until that settles too.
   */
  restart(downMs?: number, opts?: EngineRestartOptions): Promise<void>;
}

export interface EngineRestartOptions {
  readonly signal?: 'SIGTERM' | 'SIGKILL';
  /** Called once the engine is down; it is started again only when this settles (and downMs has passed). */
  readonly until?: () => Promise<unknown>;
}

export interface DockerdOptions {
  /** Extra OCI runtimes, passed to dockerd as --add-runtime name=path. */
  readonly runtimes?: Record<string, string>;
  /** daemon.json `live-restore`: containers keep running while dockerd is down and are re-attached when it is back. */
  readonly liveRestore?: boolean;
  /** --storage-driver, over TITUS_HARNESS_STORAGE_DRIVER (an engine on a data root filesystem of its own). */
  readonly storageDriver?: string;
}

const PING_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const DOCKER_CLI_TIMEOUT_MS = 120_000;

/** When a host containerd is running, dockerd 20.10 uses it instead of starting its own. */
const SYSTEM_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const dockerdArgs = (dir: string, runId: string, runtimes: Record<string, string>, storageDriver?: string): string[] => {
  const args = [
    'dockerd',
    `--data-root=${join(dir, 'data')}`,
    // Short on purpose: containerd's sockets live under it and unix socket paths are limited to 107 bytes.
    `--exec-root=${join(dir, 'x')}`,
    `--pidfile=${join(dir, 'dockerd.pid')}`,
    `--host=unix://${join(dir, 'docker.sock')}`,
    `--config-file=${join(dir, 'daemon.json')}`,
    // No docker0 bridge and no iptables rules: parallel engines would fight over them, and tests use --network none.
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--log-level=warn',
    // Containers left behind are killed at shutdown rather than waited for.
    '--shutdown-timeout=2',
  ];
  // overlay2 works on this host's ext4 /tmp and is much faster than vfs; an
  // empty override lets dockerd pick (e.g. when /tmp is itself overlayfs).
  const driver = storageDriver ?? process.env['TITUS_HARNESS_STORAGE_DRIVER'] ?? 'overlay2';
  if (driver !== '') args.push(`--storage-driver=${driver}`);
  if (existsSync(SYSTEM_CONTAINERD_SOCKET)) {
    // Sharing one containerd, engines would see each other's containers in the default 'moby' namespace.
    args.push(`--containerd-namespace=${runId}`, `--containerd-plugins-namespace=${runId}-plugins`);
  }
  for (const [name, path] of Object.entries(runtimes)) {
    if (!RUNTIME_NAME.test(name)) throw new Error(`invalid runtime name ${JSON.stringify(name)}`);
    args.push(`--add-runtime=${name}=${path}`);
  }
  return args;
};

/**
 * An explicit config file, so /etc/docker/daemon.json cannot change the test
 * engine. The trust key path exists only as a config key (no flag in 20.10);
 * without it every engine shares, and races to create, /etc/docker/key.json.
 */
const daemonJson = (dir: string, liveRestore: boolean): string =>
  `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json'), ...(liveRestore ? { 'live-restore': true } : {}) }, null, 2)}\n`;

/** Answers true when GET /_ping on the socket returns 200. */
const ping = (socket: string): Promise<boolean> =>
  new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });

/** The last `bytes` of a log file, for error messages. */
export const logTail = async (path: string, bytes = 4_000): Promise<string> => {
  try {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      const length = Math.min(size, bytes);
      const buf = Buffer.alloc(length);
      await file.read(buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      await file.close();
    }
  } catch {
    return '(no log)';
  }
};

const waitForPing = async (child: ChildProcess, socket: string, logPath: string): Promise<void> => {
  const deadline = Date.now() + PING_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(child)) {
      throw new Error(`dockerd exited (code ${child.exitCode}, signal ${child.signalCode}) before answering /_ping; log tail:\n${await logTail(logPath)}`);
    }
    if (await ping(socket)) return;
    await sleep(100);
  }
  throw new Error(`dockerd did not answer /_ping within ${PING_TIMEOUT_MS} ms; log tail:\n${await logTail(logPath)}`);
};

const makeDockerCli = (host: string, configDir: string) => {
  // A private CLI config dir: a user's ~/.docker (contexts, credential helpers) must not leak in.
  const env = harnessEnv({ DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false' });
  return (args: readonly string[], opts: DockerOptions = {}): Promise<CommandResult> =>
    runCommand(['docker', '-H', host, ...args], {
      env,
      timeoutMs: DOCKER_CLI_TIMEOUT_MS,
      ...(opts.input === undefined ? {} : { input: opts.input }),
      ...(opts.allowFailure === undefined ? {} : { allowFailure: opts.allowFailure }),
    });
};

/** Best effort: a broken engine must not keep stop() from killing it. */
const removeAllContainers = async (docker: Dockerd['docker']): Promise<void> => {
  const listed = await docker(['ps', '-aq', '--no-trunc'], { allowFailure: true });
  const ids = listed.stdout.split('\n').filter((id) => id !== '');
  if (listed.code === 0 && ids.length > 0) await docker(['rm', '-f', '-v', ...ids], { allowFailure: true });
};

/** SIGKILL, as a crash would; resolves once the process is gone. */
const crash = async (child: ChildProcess): Promise<void> => {
  if (hasExited(child) || child.pid === undefined) return;
  child.kill('SIGKILL');
  if (!(await waitForExit(child, 5_000))) throw new Error(`dockerd ${child.pid} survived SIGKILL`);
};

export const startDockerd = async (dir: string, runId: string, options: DockerdOptions = {}): Promise<Dockerd> => {
  const runtimes = options.runtimes ?? {};
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const logPath = join(dir, 'dockerd.log');
  const configDir = join(dir, 'cli');
  await mkdir(configDir);
  await writeFile(join(dir, 'daemon.json'), daemonJson(dir, options.liveRestore === true));
  let child = spawnDaemon(dockerdArgs(dir, runId, runtimes, options.storageDriver), logPath, harnessEnv());
  const docker = makeDockerCli(host, configDir);
  let stopping: Promise<void> | undefined;
  let restarting: Promise<void> | undefined;
  const engine: Dockerd = {
    socket,
    host,
    logPath,
    get child() {
      return child;
    },
    docker,
    stop: () =>
      (stopping ??= (async () => {
        await restarting?.catch(() => undefined);
        if (!hasExited(child)) await removeAllContainers(docker);
        await terminate(child, STOP_GRACE_MS);
      })()),
    restart: async (downMs = 0, opts = {}) => {
      restarting = (async () => {
        if (opts.signal === 'SIGKILL') await crash(child);
        else await terminate(child, STOP_GRACE_MS);
        await Promise.all([sleep(downMs), opts.until?.()]);
        // After a SIGKILL the new engine's containerd reconnects to every
        // surviving shim first; on a loaded machine dockerd can give up
        // waiting for it (it exits: "timeout waiting for containerd to start").
        for (let attempt = 1; ; attempt++) {
          child = spawnDaemon(dockerdArgs(dir, runId, runtimes, options.storageDriver), logPath, harnessEnv());
          try {
            await waitForPing(child, socket, logPath);
            return;
          } catch (err) {
            if (attempt >= 3 || !hasExited(child)) throw err;
          }
        }
      })();
      await restarting;
    },
  };
  try {
    await waitForPing(child, socket, logPath);
  } catch (err) {
    await terminate(child, 2_000).catch(() => undefined);
    throw err;
  }
  return engine;
};
