import { z } from 'zod';
import { ExecutorError, errorMessage, isExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { hostnameFor } from '../task/build-container-spec.js';
import { LABEL } from '../runtime/labels.js';
import { StepTimer } from '../vpc/step-timer.js';
import type { NetworkAttachment, NetworkDriver, NetworkSpec } from '../vpc/types.js';
import { netnsPathOf, type SandboxManager } from './sandbox.js';
import { POOLED_SANDBOX_LABEL, type SandboxPool } from './sandbox-pool.js';
import type { PartCapacity, PartGrant, TaskPart } from '../task/task-part.js';
import type { LaunchSpec, NetworkDetails } from '../task/types.js';

/** Passthrough attribute by which Titus asks for an IPv6 address as well. */
export const ASSIGN_IPV6_ATTRIBUTE = 'titusParameter.agent.assignIPv6Address';

/** Passthrough attribute naming ports to publish on the host (local driver): `hostPort:taskPort[/tcp|udp],…`. */
export const PUBLISHED_PORTS_ATTRIBUTE = 'titus.executor.publishedPorts';

/** What the network driver is asked for, from the launch alone. */
export const networkSpecFor = (launch: LaunchSpec): NetworkSpec => {
  const info = launch.containerInfo;
  const published = info.passthroughAttributes?.[PUBLISHED_PORTS_ATTRIBUTE];
  return {
    taskId: launch.taskId,
    securityGroups: info.networkConfigInfo?.securityGroups ?? [],
    // Resolved from resources.networkMbps, else ContainerInfo.networkConfigInfo.bandwidthLimitMbps, else the default.
    bandwidthMbps: launch.resources.networkMbps,
    allowBursting: info.allowNetworkBursting === true,
    wantIpv6: info.passthroughAttributes?.[ASSIGN_IPV6_ATTRIBUTE]?.toLowerCase() === 'true',
    // A pod's spec.hostname (LaunchSpec.hostname) names the sandbox, which the task joins.
    hostname: launch.hostname ?? hostnameFor(launch.taskId),
    ...(published === undefined || published.trim() === '' ? {} : { publishedPorts: published }),
  };
};

/** Titus' NetworkConfiguration.NetworkMode names. */
const networkModeOf = (attachment: NetworkAttachment): string => {
  if (attachment.ipv4 !== undefined && attachment.ipv6 !== undefined) return 'Ipv6AndIpv4';
  return attachment.ipv4 !== undefined ? 'Ipv4Only' : 'Ipv6Only';
};

/** NETFLIX_NETWORK_MODE values. */
const envNetworkModeOf = (attachment: NetworkAttachment): string => {
  if (attachment.ipv4 !== undefined && attachment.ipv6 !== undefined) return 'DUAL_STACK';
  return attachment.ipv4 !== undefined ? 'IPV4_ONLY' : 'IPV6_ONLY';
};

/**
 * The task container's share of an attachment: join the sandbox's namespace,
 * Titus' network env and labels, and the details reported in status updates.
 * Only an ENI address is routable from outside the host; the local driver's
 * addresses are reachable from this host and its tasks only.
 */
export const grantFor = (attachment: NetworkAttachment, spec: NetworkSpec, sandboxId: string): PartGrant => {
  const eniId = attachment.details['eniId'] || undefined;
  const subnetId = attachment.details['subnetId'] || undefined;
  const env: Record<string, string> = {
    // Titus: 127.0.0.1 when the task has no IPv4 address of its own.
    EC2_LOCAL_IPV4: attachment.ipv4 ?? '127.0.0.1',
    NETFLIX_NETWORK_MODE: envNetworkModeOf(attachment),
  };
  if (attachment.ipv6 !== undefined) env['EC2_IPV6S'] = attachment.ipv6;
  if (eniId !== undefined) env['EC2_INTERFACE_ID'] = eniId;
  if (subnetId !== undefined) env['EC2_SUBNET_ID'] = subnetId;
  const labels: Record<string, string> = { [LABEL.networkAttachment]: JSON.stringify(attachment) };
  if (attachment.ipv4 !== undefined) {
    labels[LABEL.netIpv4] = attachment.ipv4;
    labels[LABEL.vpcIpv4] = attachment.ipv4;
  }
  const network: NetworkDetails = {
    isRoutableIp: eniId !== undefined,
    ...(attachment.ipv4 !== undefined ? { ipv4Address: attachment.ipv4 } : {}),
    ...(attachment.ipv6 !== undefined ? { ipv6Address: attachment.ipv6 } : {}),
    ...(eniId !== undefined ? { eniId } : {}),
    networkMode: networkModeOf(attachment),
    hostname: spec.hostname,
  };
  return { env, labels, network, networkMode: `container:${sandboxId}` };
};

/** One task's network, from admission to release. */
interface TaskNetwork {
  readonly taskId: string;
  readonly mbps: number;
  readonly wantIpv6: boolean;
  /** A sandbox may exist (its creation began). */
  sandbox: boolean;
  /** attach was called: pieces may exist on the host even if it failed. */
  attachBegun: boolean;
  attachment?: NetworkAttachment;
  /** The sandbox came from the warm pool (it is not named after the task). */
  pooledSandboxId?: string;
}

export interface NetworkTaskPartOptions {
  /** The whole of network setup (pause image, sandbox, attach) must finish within this. */
  readonly setupTimeoutMs: number;
}

/**
 * Task networking as a task part. admit reserves an address (and the task's
 * bandwidth) against what the driver has free minus what starting tasks have
 * reserved; acquire builds the sandbox, attaches the network inside it and
 * hands the task container `container:<sandbox>`; release detaches and
 * removes the sandbox, after the runner removed the task's container.
 */
export class NetworkTaskPart implements TaskPart {
  readonly name = 'network';
  private readonly tasks = new Map<string, TaskNetwork>();
  /**
   * Until the tasks that outlived a restart are known (recoverNetwork), an
   * address could be handed out twice: launches are refused meanwhile.
   */
  private recovered = true;
  /** The warm pool and the runtime that runs its hostname hook, when pooling is on (usePool). */
  private pooling: { readonly pool: SandboxPool; readonly runtime: string } | undefined;

  constructor(
    readonly driver: NetworkDriver,
    readonly sandboxes: SandboxManager,
    private readonly options: NetworkTaskPartOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Tasks take a started sandbox from the pool when one is ready (the attach
   * is still done per task, after the take); the pooled task's hostname comes
   * from the hook `runtime` runs. An empty pool: a sandbox made for the task.
   */
  usePool(pool: SandboxPool, runtime: string): void {
    this.pooling = { pool, runtime };
  }

  /** Launches are refused (UNAVAILABLE) until markRecovered. */
  markRecovering(): void {
    this.recovered = false;
  }

  markRecovered(): void {
    this.recovered = true;
  }

  admit(launch: LaunchSpec): void {
    if (this.tasks.has(launch.taskId)) return;
    if (!this.recovered) {
      throw new ExecutorError('UNAVAILABLE', 'task networking is still recovering the tasks that outlived an executor restart; retry shortly');
    }
    const spec = networkSpecFor(launch);
    // What this host cannot do (IPv6 without a pool) is refused here, so the task can go elsewhere; what is
    // wrong with the request itself (an unknown security group) fails the task in acquire, as Titus does.
    try {
      this.driver.validate?.(spec);
    } catch (err) {
      if (!isExecutorError(err, 'INVALID_ARGUMENT')) throw err;
    }
    const available = this.driver.available();
    // Tasks between admission and a finished attach hold no lease yet; count them as taken.
    const starting = [...this.tasks.values()].filter((t) => t.attachment === undefined);
    const free4 = available.ipv4Free - starting.length;
    if (free4 < 1) {
      throw new ExecutorError(
        'RESOURCE_EXHAUSTED',
        `no task address free on this host: ${available.ipv4Total - available.ipv4Free} of ${available.ipv4Total} addresses leased` +
          (starting.length > 0 ? `, ${starting.length} reserved by starting tasks` : ''),
      );
    }
    if (spec.wantIpv6 && available.ipv6Free !== undefined && available.ipv6Free - starting.filter((t) => t.wantIpv6).length < 1) {
      throw new ExecutorError('RESOURCE_EXHAUSTED', 'no IPv6 task address free on this host');
    }
    const allocated = available.bandwidthMbpsAllocated + starting.reduce((sum, t) => sum + t.mbps, 0);
    if (spec.bandwidthMbps > 0 && allocated + spec.bandwidthMbps > available.bandwidthMbpsTotal) {
      throw new ExecutorError(
        'RESOURCE_EXHAUSTED',
        `network bandwidth: ${spec.bandwidthMbps} Mbps requested but only ${Math.max(0, available.bandwidthMbpsTotal - allocated)} of ${available.bandwidthMbpsTotal} Mbps are unallocated`,
      );
    }
    this.tasks.set(launch.taskId, { taskId: launch.taskId, mbps: spec.bandwidthMbps, wantIpv6: spec.wantIpv6, sandbox: false, attachBegun: false });
  }

  async acquire(launch: LaunchSpec, signal: AbortSignal): Promise<PartGrant> {
    if (!this.tasks.has(launch.taskId)) this.admit(launch); // a caller that skipped admission
    const task = this.tasks.get(launch.taskId);
    if (task === undefined) throw new ExecutorError('INTERNAL', `no network reservation for task ${launch.taskId}`);
    const spec = networkSpecFor(launch);
    // A request the driver would refuse (an unknown security group) fails here, before anything exists.
    this.driver.validate?.(spec);
    this.refuseCapabilities(launch);
    const deadline = AbortSignal.timeout(this.options.setupTimeoutMs);
    const setup = AbortSignal.any([signal, deadline]);
    const timer = new StepTimer();
    try {
      task.sandbox = true;
      const pooled = this.pooling?.pool.take();
      if (pooled !== undefined) task.pooledSandboxId = pooled.id;
      const sandbox = pooled ?? (await this.sandboxes.create(spec, setup, timer));
      setup.throwIfAborted();
      task.attachBegun = true;
      const attachment = await this.driver.attach(spec, netnsPathOf(sandbox.pid), setup);
      task.attachment = attachment;
      timer.mark('attach');
      const addresses = [attachment.ipv4, attachment.ipv6].filter((a): a is string => a !== undefined);
      const mounts = await this.sandboxes.writeNetworkFiles(sandbox, spec.hostname, addresses);
      if (pooled !== undefined) mounts.push(await this.sandboxes.writeHostnameFile(sandbox, spec.hostname));
      timer.mark('files');
      this.log.debug({ taskId: launch.taskId, ms: timer.summary() }, 'network setup timings');
      this.log.info({ taskId: launch.taskId, sandbox: sandbox.id.slice(0, 12), pooled: pooled !== undefined, ipv4: attachment.ipv4, ipv6: attachment.ipv6 }, 'task network ready');
      const grant = grantFor(attachment, spec, sandbox.id);
      if (pooled === undefined || this.pooling === undefined) return { ...grant, mounts };
      return { ...grant, mounts, runtime: this.pooling.runtime, labels: { ...grant.labels, [POOLED_SANDBOX_LABEL]: pooled.id } };
    } catch (err) {
      if (deadline.aborted && !signal.aborted) {
        throw new ExecutorError('DEADLINE_EXCEEDED', `network setup did not finish within ${this.options.setupTimeoutMs} ms`, { cause: err });
      }
      throw err;
    }
  }

  /** A capability the driver cannot allow (NET_ADMIN with aws-eni) fails the task as an invalid request. */
  private refuseCapabilities(launch: LaunchSpec): void {
    const refused = this.driver.refusedCapabilities;
    if (refused === undefined) return;
    const added = (launch.containerInfo.capabilities?.add ?? []).map((c) => String(c).toUpperCase());
    const bad = refused.names.filter((name) => added.includes(name));
    if (bad.length > 0) {
      throw new ExecutorError('INVALID_ARGUMENT', `capability ${bad.join(', ')} is not allowed with network driver ${this.driver.name}: ${refused.why}`, {
        field: 'capabilities',
      });
    }
  }

  /** Detach, then remove the sandbox; each is tried whatever the other did. Idempotent. */
  async release(taskId: string): Promise<void> {
    const task = this.tasks.get(taskId);
    if (task === undefined) return;
    this.tasks.delete(taskId);
    const failures: string[] = [];
    if (task.attachBegun) {
      // Without an attachment (attach failed or was cancelled) the driver finds its pieces by task id.
      const attachment = task.attachment ?? { taskId, driver: this.driver.name, hostInterface: '', details: {} };
      await this.driver.detach(attachment).catch((err: unknown) => failures.push(`detach: ${errorMessage(err)}`));
    }
    // After the detach: an ENI's NIC must leave the namespace through the driver, not by the namespace's end.
    if (task.sandbox) {
      const removal = task.pooledSandboxId !== undefined ? this.sandboxes.removeById(task.pooledSandboxId) : this.sandboxes.remove(taskId);
      await removal.catch((err: unknown) => failures.push(`remove sandbox: ${errorMessage(err)}`));
    }
    if (failures.length > 0) {
      this.log.error({ taskId, failures }, 'task network not fully released');
      throw new ExecutorError('INTERNAL', failures.join('; '));
    }
    if (task.sandbox) this.log.info({ taskId }, 'task network released');
  }

  /**
   * Releases an adopted task's network when its container exits, unless the
   * task was launched again meanwhile (its network is then the new launch's).
   */
  async releaseAdopted(attachment: NetworkAttachment): Promise<void> {
    if (this.tasks.get(attachment.taskId)?.attachment !== attachment) return;
    await this.release(attachment.taskId);
  }

  /** A task whose network outlived an executor restart: released like any other. `pooledSandboxId`: the pooled sandbox it joined. */
  adopt(attachment: NetworkAttachment, pooledSandboxId?: string): void {
    this.tasks.set(attachment.taskId, {
      taskId: attachment.taskId,
      mbps: Number(attachment.details['bandwidthMbps'] ?? '0'),
      wantIpv6: attachment.ipv6 !== undefined,
      sandbox: true,
      attachBegun: true,
      attachment,
      ...(pooledSandboxId !== undefined ? { pooledSandboxId } : {}),
    });
  }

  /**
   * Collects, every `intervalMs`, what the driver holds for no task this part
   * knows (admitted, attached or adopted): ENIs, addresses and rules left by
   * a release that failed half-way, or by anything else. Not while recovering
   * (the live set is not known yet). Returns the stop function.
   */
  startPeriodicGc(intervalMs: number): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running || !this.recovered) return;
      running = true;
      void this.driver
        .garbageCollect(new Set(this.tasks.keys()))
        .then(
          (removed) => {
            if (removed.length > 0) this.log.warn({ removed }, 'periodic network garbage collection removed pieces no task owned');
          },
          (err: unknown) => this.log.error({ err: errorMessage(err) }, 'periodic network garbage collection failed'),
        )
        .finally(() => {
          running = false;
        });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The task's attachment once attach has returned (its namespace, addresses, driver details). */
  attachmentOf(taskId: string): NetworkAttachment | undefined {
    return this.tasks.get(taskId)?.attachment;
  }

  /** Addresses held by attached tasks, by family (metrics). */
  addressesInUse(): { ipv4: number; ipv6: number } {
    let ipv4 = 0;
    let ipv6 = 0;
    for (const t of this.tasks.values()) {
      if (t.attachment?.ipv4 !== undefined) ipv4 += 1;
      if (t.attachment?.ipv6 !== undefined) ipv6 += 1;
    }
    return { ipv4, ipv6 };
  }

  capacity(): PartCapacity {
    const a = this.driver.available();
    const starting = [...this.tasks.values()].filter((t) => t.attachment === undefined).length;
    const parts = [
      `network: ${this.driver.name}`,
      `${a.ipv4Free}/${a.ipv4Total} IPv4 free`,
      ...(a.ipv6Free !== undefined ? [`${a.ipv6Free} IPv6 free`] : []),
      `${a.bandwidthMbpsAllocated}/${a.bandwidthMbpsTotal} Mbps allocated`,
      ...(starting > 0 ? [`${starting} starting`] : []),
      ...(this.recovered ? [] : ['recovering after restart']),
    ];
    return { status: [parts.join(', '), ...(this.driver.statusLines?.() ?? [])] };
  }
}

const attachmentSchema = z.object({
  taskId: z.string().min(1),
  driver: z.string().min(1),
  ipv4: z.string().optional(),
  ipv6: z.string().optional(),
  prefixLength4: z.number().optional(),
  gateway4: z.string().optional(),
  hostInterface: z.string(),
  mac: z.string().optional(),
  details: z.record(z.string(), z.string()),
});

/** The attachment a task container carries in its labels, or undefined. */
export const attachmentFromLabels = (labels: Readonly<Record<string, string>>): NetworkAttachment | undefined => {
  const raw = labels[LABEL.networkAttachment];
  if (raw === undefined || raw === '') return undefined;
  try {
    const parsed = attachmentSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) return undefined;
    const a = parsed.data;
    return {
      taskId: a.taskId,
      driver: a.driver,
      hostInterface: a.hostInterface,
      details: a.details,
      ...(a.ipv4 !== undefined ? { ipv4: a.ipv4 } : {}),
      ...(a.ipv6 !== undefined ? { ipv6: a.ipv6 } : {}),
      ...(a.prefixLength4 !== undefined ? { prefixLength4: a.prefixLength4 } : {}),
      ...(a.gateway4 !== undefined ? { gateway4: a.gateway4 } : {}),
      ...(a.mac !== undefined ? { mac: a.mac } : {}),
    };
  } catch {
    return undefined;
  }
};

export interface NetworkRecovery {
  /** Tasks whose network was restored: their main container still runs. */
  readonly restored: readonly string[];
  /** What garbage collection removed on the host, and the sandboxes removed from the engine. */
  readonly removed: readonly string[];
}

/**
 * After an executor restart, from the engine alone (plus the driver's lease
 * file when configured): the attachments of this executor's running task
 * containers are restored and adopted, and released when those containers
 * exit; every other piece (host interfaces, rules, leases, sandboxes) is
 * removed. Call before the API accepts launches.
 */
export const recoverNetwork = async (
  runtime: ContainerRuntime,
  part: NetworkTaskPart,
  executorId: string,
  log: Logger,
): Promise<NetworkRecovery> => {
  const containers = await runtime.listContainers({ [LABEL.executor]: executorId });
  const live = new Map<string, { attachment: NetworkAttachment; containerId: string; pooledSandboxId?: string }>();
  for (const c of containers) {
    if (c.labels[LABEL.role] !== 'main' || c.state !== 'running') continue;
    const attachment = attachmentFromLabels(c.labels);
    if (attachment === undefined || attachment.driver !== part.driver.name) continue;
    const pooledSandboxId = c.labels[POOLED_SANDBOX_LABEL];
    live.set(attachment.taskId, { attachment, containerId: c.id, ...(pooledSandboxId !== undefined ? { pooledSandboxId } : {}) });
  }
  await part.driver.restore([...live.values()].map((l) => l.attachment)).catch((err: unknown) =>
    log.error({ err: errorMessage(err) }, 'some network leases could not be restored'),
  );
  const removed = await part.driver.garbageCollect(new Set(live.keys())).catch((err: unknown) => {
    log.error({ err: errorMessage(err) }, 'network garbage collection failed');
    return [] as string[];
  });
  for (const sandbox of await part.sandboxes.list()) {
    const taskId = sandbox.labels[LABEL.taskId] ?? '';
    if (live.has(taskId)) continue;
    try {
      await runtime.removeContainer(sandbox.id);
      removed.push(`sandbox ${sandbox.name}`);
    } catch (err) {
      log.error({ taskId, sandbox: sandbox.name, err: errorMessage(err) }, 'cannot remove a leftover network sandbox');
    }
  }
  for (const { attachment, containerId, pooledSandboxId } of live.values()) {
    part.adopt(attachment, pooledSandboxId);
    void runtime
      .waitContainer(containerId)
      .catch(() => undefined)
      .then(() => part.releaseAdopted(attachment))
      .catch((err: unknown) => log.error({ taskId: attachment.taskId, err: errorMessage(err) }, 'network of a recovered task not released'));
  }
  log.info({ restored: [...live.keys()], removed }, 'task networks recovered after restart');
  return { restored: [...live.keys()], removed };
};

/**
 * recoverNetwork now, and again every `retryMs` until it succeeds (an engine
 * that is down at start); the part refuses launches until then. Resolves
 * after the first attempt.
 */
export const startNetworkRecovery = async (
  runtime: ContainerRuntime,
  part: NetworkTaskPart,
  executorId: string,
  log: Logger,
  retryMs = 5000,
): Promise<void> => {
  part.markRecovering();
  const attempt = async (): Promise<void> => {
    try {
      await recoverNetwork(runtime, part, executorId, log);
      part.markRecovered();
    } catch (err) {
      log.warn({ err: errorMessage(err), retryMs }, 'cannot recover task networks from the container engine yet; launches are refused until it can');
      setTimeout(() => void attempt(), retryMs).unref();
    }
  };
  await attempt();
};
