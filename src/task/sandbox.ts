import { readFileSync } from 'node:fs';
import { appendFile, chmod, copyFile, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../common/command-runner.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { packageRoot } from '../common/package-root.js';
import type { ContainerRuntime, ContainerSummary, SandboxEngine } from '../runtime/container-runtime.js';
import type { ContainerSpec } from '../runtime/container-spec.js';
import { LABEL, LABEL_SCHEMA_VERSION } from '../runtime/labels.js';
import { isRuntimeError, RuntimeError } from '../runtime/runtime-errors.js';
import type { SandboxConfig } from '../vpc/config.js';
import type { NetworkSpec } from '../vpc/types.js';

/**
 * The per-task network sandbox: a tiny "pause" container, network mode
 * `none`, started before anything of the task runs. Its network namespace is
 * the one the network driver wires up and the one the task's container then
 * joins (`container:<sandbox id>`), so the task's own process never runs
 * without its network.
 *
 * The pause image is built on the host at first need from a static busybox
 * (no registry image can be assumed on production hosts) and reused after.
 */

export const SANDBOX_ROLE = 'sandbox';
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

/** The namespace file of a running sandbox. */
export const netnsPathOf = (pid: number): string => `/proc/${pid}/ns/net`;

/** The sandbox container: minimal resources, no capabilities, the task's hostname, labelled for recovery. */
export const buildSandboxSpec = (input: {
  readonly spec: NetworkSpec;
  readonly image: string;
  readonly identity: SandboxIdentity;
  readonly config: SandboxConfig;
}): ContainerSpec => {
  const { spec, identity } = input;
  return {
    name: sandboxName(spec.taskId),
    image: input.image,
    entrypoint: PAUSE_ENTRYPOINT,
    cmd: [],
    env: {},
    labels: {
      [LABEL.executor]: identity.executorId,
      [LABEL.schema]: LABEL_SCHEMA_VERSION,
      [LABEL.executorPid]: String(identity.executorPid),
      [LABEL.taskId]: spec.taskId,
      [LABEL.role]: SANDBOX_ROLE,
      [LABEL.networkSpec]: JSON.stringify(spec),
    },
    hostname: spec.hostname,
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
    ...(identity.defaultRuntime !== undefined ? { runtime: identity.defaultRuntime } : {}),
  };
};

export interface RunningSandbox {
  readonly id: string;
  readonly pid: number;
  readonly hostsPath?: string;
}

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
  async create(spec: NetworkSpec, signal: AbortSignal): Promise<RunningSandbox> {
    const image = await this.ensureImage();
    signal.throwIfAborted();
    const containerSpec = buildSandboxSpec({ spec, image, identity: this.identity, config: this.config });
    let id: string;
    try {
      id = await this.runtime.createContainer(containerSpec);
    } catch (err) {
      if (!isRuntimeError(err, 'conflict')) throw err;
      this.log.warn({ taskId: spec.taskId, name: containerSpec.name }, 'a sandbox of this task exists; replacing it');
      await this.runtime.removeContainer(containerSpec.name);
      id = await this.runtime.createContainer(containerSpec);
    }
    signal.throwIfAborted();
    await this.runtime.startContainer(id);
    const details = await this.runtime.inspectContainer(id);
    if (details === undefined || details.state !== 'running' || details.pid <= 0) {
      throw new RuntimeError('engine', `network sandbox ${containerSpec.name} is ${details?.state ?? 'gone'} right after its start`);
    }
    return { id, pid: details.pid, ...(details.hostsPath !== undefined ? { hostsPath: details.hostsPath } : {}) };
  }

  /**
   * Makes the task's hostname resolve to its addresses, as Titus' ExtraHosts
   * did (the task container shares the sandbox's /etc/hosts). Best effort:
   * the file is only reachable when the engine runs on this host.
   */
  async addHostsEntries(sandbox: RunningSandbox, hostname: string, addresses: readonly string[]): Promise<void> {
    if (sandbox.hostsPath === undefined || addresses.length === 0) return;
    try {
      await appendFile(sandbox.hostsPath, addresses.map((a) => `${a}\t${hostname}\n`).join(''));
    } catch (err) {
      this.log.warn({ hostsPath: sandbox.hostsPath, err: errorMessage(err) }, 'cannot add the task hostname to the sandbox /etc/hosts');
    }
  }

  /** Idempotent. */
  async remove(taskId: string): Promise<void> {
    await this.runtime.removeContainer(sandboxName(taskId));
  }

  /** This executor's sandboxes, in any state. */
  async list(): Promise<ContainerSummary[]> {
    const all = await this.runtime.listContainers({ [LABEL.executor]: this.identity.executorId, [LABEL.role]: SANDBOX_ROLE });
    return all.filter((c) => c.labels[LABEL.role] === SANDBOX_ROLE);
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
