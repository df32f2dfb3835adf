import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, open, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCommand } from '../common/command-runner.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { packageRoot } from '../common/package-root.js';
import type { ContainerRuntime, ContainerSummary, SandboxEngine } from '../runtime/container-runtime.js';
import type { BindMount, ContainerSpec } from '../runtime/container-spec.js';
import { LABEL, LABEL_SCHEMA_VERSION } from '../runtime/labels.js';
import { isRuntimeError, RuntimeError } from '../runtime/runtime-errors.js';
import { ownedContainer, removeOwnLeftover } from '../task/owned-container.js';
import type { SandboxConfig } from '../vpc/config.js';
import type { StepTimer } from '../vpc/step-timer.js';
import type { NetworkSpec } from '../vpc/types.js';

/**
 * The per-task network sandbox: a tiny "pause" container, started before
 * anything of the task runs. Its network namespace is the one the network
 * driver wires up and the one the task's container then joins
 * (`container:<sandbox id>`), so the task's own process never runs without
 * its network.
 *
 * The sandbox is created with the engine's networking disabled
 * (`NetworkDisabled`): its runtime gives it a fresh namespace with only lo,
 * and the engine sets up nothing in it. Network mode `none` would have the
 * engine build a namespace of its own first (libnetwork, and a hook that
 * re-executes dockerd), which costs about 100 ms per start and nothing the
 * driver needs. What the engine would have written for it, /etc/hosts and
 * /etc/resolv.conf, the executor writes into the sandbox's container
 * directory instead (removed with the container) and the task's container
 * bind-mounts them; /etc/hostname and the hostname itself are the sandbox's,
 * which the engine gives every container that joins it.
 *
 * The pause image is built on the host at first need from a static busybox
 * (no registry image can be assumed on production hosts) and reused after.
 */

export const SANDBOX_ROLE = 'sandbox';
/** The file the hostname hook reads a pooled task's name from (bind-mounted at /etc/hostname). */
export const TASK_HOSTNAME_FILE = 'titus-task-hostname';
export const PAUSE_REPOSITORY = 'titus-executor/pause';
/** Sleeps "forever" (68 years); Docker's init (`Init: true`) is PID 1, reaps and forwards signals. */
export const PAUSE_ENTRYPOINT: readonly string[] = ['/busybox', 'sleep', '2147483647'];
/** Image label that marks the pause image as the executor's. */
export const PAUSE_IMAGE_LABEL = 'titus.executor.image';

const MiB = 1024 * 1024;

export type SandboxRuntime = ContainerRuntime & SandboxEngine;

export interface SandboxIdentity {
  readonly executorId: string;
  readonly executorPid: number;
  /** The engine's default OCI runtime override (docker.defaultRuntime), if any. */
  readonly defaultRuntime?: string;
}

/** The executor's version, for the pause image tag. */
export const executorVersion = (): string => {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0';
  } catch {
    return '0';
  }
};

export const pauseImageRef = (config: SandboxConfig): string => config.image ?? `${PAUSE_REPOSITORY}:${executorVersion()}`;

/** The sandbox's container name; the task's own container is named after the task id. */
export const sandboxName = (taskId: string): string => `titus-sandbox-${taskId}`;

/** The sandbox's /etc/hosts and /etc/resolv.conf (written by writeNetworkFiles) as the task container's bind mounts. */
export const networkFileMounts = (sandbox: RunningSandbox): BindMount[] => [
  { source: join(sandbox.dir, 'hosts'), target: '/etc/hosts' },
  { source: join(sandbox.dir, 'resolv.conf'), target: '/etc/resolv.conf' },
];

/** The namespace file of a running sandbox. */
export const netnsPathOf = (pid: number): string => `/proc/${pid}/ns/net`;

/** Which sandbox: its container name and the labels that tell it from others (role, and task id or shared key). */
export interface SandboxRef {
  readonly name: string;
  /** A container of this name with these labels (and this executor's) is ours: found, replaced, removed. */
  readonly own: Readonly<Record<string, string>>;
}

/** A sandbox to create: which one, its hostname, and labels kept for recovery. */
export interface SandboxRequest extends SandboxRef {
  readonly hostname: string;
  readonly extra?: Readonly<Record<string, string>>;
}

/** A task's own sandbox. */
const taskSandboxRef = (taskId: string): SandboxRef => ({ name: sandboxName(taskId), own: { [LABEL.taskId]: taskId, [LABEL.role]: SANDBOX_ROLE } });

/** A task's own sandbox, labelled with its network spec for recovery. */
export const taskSandbox = (spec: NetworkSpec): SandboxRequest => ({
  ...taskSandboxRef(spec.taskId),
  hostname: spec.hostname,
  extra: { [LABEL.networkSpec]: JSON.stringify(spec) },
});

/** The sandbox container: no engine networking, minimal resources, no capabilities, the task's hostname, labelled for recovery. */
export const buildSandboxSpec = (input: {
  readonly which: SandboxRequest;
  readonly image: string;
  readonly identity: SandboxIdentity;
  readonly config: SandboxConfig;
}): ContainerSpec => {
  const { which, identity } = input;
  return {
    name: which.name,
    image: input.image,
    entrypoint: PAUSE_ENTRYPOINT,
    cmd: [],
    env: {},
    labels: {
      [LABEL.executor]: identity.executorId,
      [LABEL.schema]: LABEL_SCHEMA_VERSION,
      [LABEL.executorPid]: String(identity.executorPid),
      ...which.own,
      ...which.extra,
    },
    hostname: which.hostname,
    cpuShares: 2,
    memoryBytes: input.config.memoryMb * MiB,
    memorySwapBytes: input.config.memoryMb * MiB,
    pidsLimit: 16,
    ulimits: [],
    tmpfs: {},
    init: true,
    securityOpt: ['no-new-privileges'],
    capAdd: [],
    capDrop: ['ALL'],
    // Below the tasks' default of 1000, so a task's process goes first; not negative, which
    // needs CAP_SYS_RESOURCE that some hosts (nested, user-namespaced) do not grant the engine.
    oomScoreAdj: 0,
    networkMode: 'none',
    networkDisabled: true,
    ...(identity.defaultRuntime !== undefined ? { runtime: identity.defaultRuntime } : {}),
  };
};

export interface RunningSandbox {
  readonly id: string;
  readonly pid: number;
  /** The sandbox's directory on the engine's host (where the engine keeps its hostname file). */
  readonly dir: string;
}

/** What the engine writes into /etc/hosts of a container with network mode `none`. */
const HOSTS_HEADER = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** A task's own name in its /etc/hosts when its namespace has only lo (a pooled task's, a pod's, a task without a network driver). */
export const OWN_NAME_ADDRESS = '127.0.1.1';

/** The task's /etc/hosts: the engine's usual lines, then its hostname at each of its addresses (Titus' ExtraHosts). */
export const hostsFileFor = (hostname: string, addresses: readonly string[]): string =>
  [...HOSTS_HEADER, ...addresses.map((a) => `${a}\t${hostname}`)].join('\n') + '\n';

const LOOPBACK_NAMESERVER = /^\s*nameserver\s+(127\.\S*|::1)\s*$/;
const SYSTEMD_RESOLVED_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';
/** The engine's fallback when the host has no nameserver a task could reach. */
const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/**
 * The task's /etc/resolv.conf, as the engine makes it for a container with a
 * network of its own: the host's (systemd-resolved's upstream file when the
 * host's names only its local stub), without loopback nameservers, which the
 * task's own lo would not answer; the engine's default nameservers if none is
 * left.
 */
export const resolvConfFor = (hostResolvConf: string): string => {
  const lines = hostResolvConf.split('\n').filter((line) => !LOOPBACK_NAMESERVER.test(line));
  while (lines.length > 0 && (lines[lines.length - 1] ?? '').trim() === '') lines.pop();
  const hasNameserver = lines.some((line) => /^\s*nameserver\s+\S/.test(line));
  const body = hasNameserver ? lines : [...lines, ...DEFAULT_NAMESERVERS.map((ns) => `nameserver ${ns}`)];
  return `${body.join('\n')}\n`;
};

/** The host's resolv.conf, or systemd-resolved's upstream file when the host's names only loopback stubs. */
export const readHostResolvConf = async (): Promise<string> => {
  const main = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const onlyLoopback = !main.split('\n').some((l) => /^\s*nameserver\s+\S/.test(l) && !LOOPBACK_NAMESERVER.test(l));
  if (onlyLoopback) {
    const upstream = await readFile(SYSTEMD_RESOLVED_RESOLV_CONF, 'utf8').catch(() => undefined);
    if (upstream !== undefined) return upstream;
  }
  return main;
};

/** Creates, starts and removes sandboxes; builds the pause image once. */
export class SandboxManager {
  readonly imageRef: string;
  private image: Promise<string> | undefined;

  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly config: SandboxConfig,
    private readonly identity: SandboxIdentity,
    private readonly log: Logger,
  ) {
    this.imageRef = pauseImageRef(config);
  }

  /** The pause image, imported on first need; concurrent callers share one import. */
  ensureImage(): Promise<string> {
    this.image ??= this.findOrImport().catch((err: unknown) => {
      this.image = undefined; // the next task tries again
      throw err;
    });
    return this.image;
  }

  /**
   * A running sandbox for the task, with the pid whose namespace the driver
   * wires. A leftover sandbox of the same task (a crash, a retried launch) is
   * replaced. On failure the sandbox may exist: `remove` cleans it up.
   */
  create(spec: NetworkSpec, signal: AbortSignal, timer?: StepTimer): Promise<RunningSandbox> {
    return this.createSandbox(taskSandbox(spec), signal, timer);
  }

  /** A running sandbox of the given identity; a leftover of the same identity is replaced. */
  async createSandbox(which: SandboxRequest, signal: AbortSignal, timer?: StepTimer): Promise<RunningSandbox> {
    const image = await this.ensureImage();
    signal.throwIfAborted();
    timer?.mark('pauseImage');
    const containerSpec = buildSandboxSpec({ which, image, identity: this.identity, config: this.config });
    let id: string;
    try {
      id = await this.runtime.createContainer(containerSpec);
    } catch (err) {
      if (isRuntimeError(err, 'conflict')) {
        await removeOwnLeftover(this.runtime, containerSpec.name, this.labelsOf(which));
        this.log.warn({ name: containerSpec.name }, 'replaced a sandbox this executor had made');
      } else if (isRuntimeError(err, 'image-not-found')) {
        // Checked once per executor, so someone removed it since: import it again.
        this.log.warn({ image }, 'the pause image is gone from the engine; importing it again');
        this.image = undefined;
        await this.ensureImage();
      } else throw err;
      signal.throwIfAborted();
      id = await this.runtime.createContainer(containerSpec);
    }
    timer?.mark('sandboxCreate');
    signal.throwIfAborted();
    await this.runtime.startContainer(id);
    timer?.mark('sandboxStart');
    return this.running(id, containerSpec.name, timer);
  }

  /** The sandbox's process and directory, checked to be running in a namespace of its own. */
  async running(id: string, name: string, timer?: StepTimer): Promise<RunningSandbox> {
    const details = await this.runtime.inspectContainer(id);
    timer?.mark('sandboxInspect');
    if (details === undefined || details.state !== 'running' || details.pid <= 0) {
      throw new RuntimeError('engine', `network sandbox ${name} is ${details?.state ?? 'gone'} right after its start`);
    }
    if (details.hostnamePath === undefined) {
      throw new RuntimeError('engine', `network sandbox ${name} has no hostname file: the engine must run on this host`);
    }
    await assertOwnNetns(details.pid, name);
    return { id, pid: details.pid, dir: dirname(details.hostnamePath) };
  }

  /**
   * Writes the task's /etc/hosts (its hostname resolving to its addresses, as
   * Titus' ExtraHosts did) and /etc/resolv.conf into the sandbox's directory,
   * and returns the bind mounts that give them to the task's container. The
   * engine deletes the directory with the sandbox.
   */
  async writeNetworkFiles(sandbox: RunningSandbox, hostname: string, addresses: readonly string[]): Promise<BindMount[]> {
    const mounts = networkFileMounts(sandbox);
    const [hosts, resolv] = mounts.map((m) => m.source) as [string, string];
    try {
      await writeFile(hosts, hostsFileFor(hostname, addresses), { mode: 0o644 });
      await writeFile(resolv, resolvConfFor(await readHostResolvConf()), { mode: 0o644 });
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot write the task's /etc/hosts and /etc/resolv.conf in ${sandbox.dir}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return mounts;
  }

  /**
   * The task's /etc/hostname, for a task in a pooled sandbox (whose own
   * hostname file names the sandbox): written beside the sandbox's other
   * files, under the name the hostname hook (hooks/task-hostname) looks for,
   * so the hook gives the task's UTS namespace the same name.
   */
  async writeHostnameFile(sandbox: RunningSandbox, hostname: string): Promise<BindMount> {
    const source = join(sandbox.dir, TASK_HOSTNAME_FILE);
    try {
      await writeFile(source, `${hostname}\n`, { mode: 0o644 });
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot write the task's /etc/hostname in ${sandbox.dir}: ${errorMessage(err)}`, { cause: err });
    }
    return { source, target: '/etc/hostname' };
  }

  /** A sandbox by container id (a pooled one); idempotent. */
  async removeById(id: string): Promise<void> {
    try {
      await this.runtime.removeContainer(id);
    } catch (err) {
      if (!isRuntimeError(err, 'not-found')) throw err;
    }
  }

  /** Idempotent; a container of that name that is not our sandbox is left alone. */
  async remove(taskId: string): Promise<void> {
    await this.removeSandbox(taskSandboxRef(taskId));
  }

  /** Whether there was one to remove. */
  async removeSandbox(which: SandboxRef): Promise<boolean> {
    const mine = await ownedContainer(this.runtime, which.name, this.labelsOf(which));
    if (mine === undefined) return false;
    await this.runtime.removeContainer(mine.id);
    return true;
  }

  /** The sandbox of that identity, in any state; undefined if there is none (or the name is someone else's). */
  find(which: SandboxRef): Promise<ContainerSummary | undefined> {
    return ownedContainer(this.runtime, which.name, this.labelsOf(which));
  }

  private labelsOf(which: SandboxRef): Record<string, string> {
    return { [LABEL.executor]: this.identity.executorId, ...which.own };
  }

  /** This executor's sandboxes of a role (task sandboxes by default), in any state. */
  async list(role = SANDBOX_ROLE): Promise<ContainerSummary[]> {
    const all = await this.runtime.listContainers({ [LABEL.executor]: this.identity.executorId, [LABEL.role]: role });
    return all.filter((c) => c.labels[LABEL.role] === role);
  }

  private async findOrImport(): Promise<string> {
    const existing = await this.runtime.findImage(this.imageRef);
    if (existing !== undefined) return this.imageRef;
    const started = Date.now();
    const dir = await mkdtemp(join(tmpdir(), 'titus-pause-'));
    try {
      const tarPath = await buildPauseTar(this.config.busyboxPath, dir);
      const id = await this.runtime.importImage(tarPath, {
        ref: this.imageRef,
        changes: [
          `ENTRYPOINT ${JSON.stringify(PAUSE_ENTRYPOINT)}`,
          `LABEL ${PAUSE_IMAGE_LABEL}=pause`,
          `LABEL titus.executor.version=${executorVersion()}`,
        ],
        message: `titus-executor network sandbox from ${this.config.busyboxPath}`,
      });
      this.log.info({ image: this.imageRef, id, ms: Date.now() - started }, 'pause image built');
      return this.imageRef;
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot build the pause image ${this.imageRef}: ${errorMessage(err)}`, { cause: err });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * The sandbox must have a network namespace of its own: were the engine ever
 * to run it in the host's (or the executor's) namespace, the driver would
 * wire the host itself.
 */
const assertOwnNetns = async (pid: number, name: string): Promise<void> => {
  const [own, executor, init] = await Promise.all([
    readlink(netnsPathOf(pid)),
    readlink('/proc/self/ns/net'),
    readlink('/proc/1/ns/net').catch(() => undefined),
  ]);
  if (own === executor || own === init) {
    throw new RuntimeError('engine', `network sandbox ${name} runs in the host's network namespace (${own}), not one of its own`);
  }
};

/** A tar holding only /busybox, owned by root. */
const buildPauseTar = async (busyboxPath: string, dir: string): Promise<string> => {
  await assertStaticExecutable(busyboxPath);
  const root = join(dir, 'rootfs');
  await mkdir(root, { mode: 0o755 });
  await copyFile(busyboxPath, join(root, 'busybox'));
  await chmod(join(root, 'busybox'), 0o755);
  const tarPath = join(dir, 'pause.tar');
  await runCommand(['tar', '--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarPath, 'busybox'], { timeoutMs: 30_000 });
  return tarPath;
};

const PT_INTERP = 3;

/**
 * The image holds nothing but this file, so it must need no dynamic loader:
 * an ELF executable without a PT_INTERP program header.
 */
export const assertStaticExecutable = async (path: string): Promise<void> => {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new Error(`${path}: ${errorMessage(err)} (install Debian's busybox-static, or set network.sandbox.busyboxPath)`, { cause: err });
  }
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF executable`);
    const is64 = header[4] === 2;
    const little = header[5] === 1;
    const u16 = (b: Buffer, o: number): number => (little ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (little ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(little ? header.readBigUInt64LE(0x20) : header.readBigUInt64BE(0x20)) : u32(header, 0x1c);
    const phentsize = u16(header, is64 ? 0x36 : 0x2a);
    const phnum = u16(header, is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(table, i * phentsize) === PT_INTERP) {
        throw new Error(`${path} is dynamically linked; the sandbox image needs a static busybox (Debian's busybox-static)`);
      }
    }
  } finally {
    await handle.close();
  }
};
