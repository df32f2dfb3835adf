import os from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { ExecutorConfig } from '../config/config.js';
import { ExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { checkShmFitsMemory } from './build-container-spec.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { checkContainerInfo } from './launch-request.js';
import { checkRequestedProcess } from './entrypoint.js';
import { imageRefFor } from '../runtime/image-ref.js';
import { availableResources, sumResources } from '../host/admission.js';
import type { DiskUsage } from '../host/disks.js';
import { diskQuotaOf, type DiskQuotaSupport } from './disk-quota-note.js';
import type { DrainStatus } from '../host/drain-switch.js';
import { HostAdmission } from '../host/host-admission.js';
import type { Nic } from '../host/nics.js';
import { LABEL } from '../runtime/labels.js';
import type { TaskOutputSink } from '../logs/types.js';
import { StatusBus, type UpdateListener } from './status-bus.js';
import { admitAll, type PartCapacity, type TaskPart } from './task-part.js';
import { TaskRunner, type EngineAvailability } from './task-runner.js';
import { GroupCommit } from './group-commit.js';
import type { TaskStore } from './task-store.js';
import { refuseIfStateDirFull } from './state-space.js';
import { recoverTasks, type RecoveryReport } from './task-recovery.js';
import { TaskSecurity } from './task-security.js';
import { isTerminal, type LaunchSpec, type StatusUpdate, type TaskResources, type TaskState, type TaskView } from './types.js';

export interface TaskManagerDeps {
  readonly runtime: ContainerRuntime;
  readonly config: ExecutorConfig;
  readonly log: Logger;
  readonly parts?: readonly TaskPart[];
  readonly executorPid?: number;
  /** Tasks other processes run on this host (run-task), listed but not managed here. */
  readonly externalTasks?: () => readonly TaskView[];
  /** The per-task log store (src/logs) the runners feed. */
  readonly output?: TaskOutputSink;
  /** The durable task store; without it tasks live in memory only (tests of the core). */
  readonly store?: TaskStore;
  /** Whether the engine is reachable: launches are refused while it is not. */
  readonly engine?: EngineAvailability & { describeOutage(): string; onReconnect?(listener: () => void): () => void };
  /** Seccomp/AppArmor profiles and devices by passthrough attribute; default: from config.security and this host. */
  readonly security?: TaskSecurity;
}

export interface HostResourcesView {
  readonly total: TaskResources;
  readonly allocated: TaskResources;
  readonly runningTasks: number;
  readonly engineVersion: string;
  readonly hostname: string;
  readonly partStatus: readonly string[];
  readonly gpuDevices: NonNullable<PartCapacity['gpuDevices']>;
  /** Total less allocated: what a launch can still get. */
  readonly available: TaskResources;
  readonly drain: DrainStatus;
  readonly disks: readonly DiskUsage[];
  readonly nics: readonly Nic[];
  /** Whether a task's disk size is enforced by the engine or only accounted against `total`. */
  readonly diskQuota: DiskQuotaSupport;
}

/**
 * The task core: the only thing the API calls. It validates what the runtime
 * needs, keeps one TaskRunner per task and the host's status sequence.
 */
export class TaskManager {
  readonly bus: StatusBus;
  private readonly tasks = new Map<string, TaskRunner>();
  private readonly terminalOrder: string[] = [];
  private closed = false;
  private readonly security: TaskSecurity;
  private readonly commit: GroupCommit | undefined;

  constructor(private readonly deps: TaskManagerDeps) {
    // Reads the configured seccomp profiles: a bad file stops the start, not a launch.
    this.security = deps.security ?? new TaskSecurity(deps.config.security);
    this.bus = new StatusBus(deps.config.watch.retainedUpdates);
    this.commit = deps.store !== undefined ? new GroupCommit(this.bus, deps.store, deps.log) : undefined;
    this.bus.subscribe((u) => this.onUpdate(u));
    deps.engine?.onReconnect?.(() => {
      void this.removeStrayContainers().catch((err: unknown) =>
        deps.log.error({ err: (err as Error).message }, 'reconciling containers after the engine came back failed'),
      );
    });
  }

  /**
   * After an engine outage: a container of this executor whose task has ended
   * (its removal failed while the engine was away) or that no task owns is
   * removed. Running tasks re-attach on their own.
   */
  async removeStrayContainers(): Promise<number> {
    const { runtime, config, log } = this.deps;
    const containers = await runtime.listContainers({ [LABEL.executor]: config.executorId, [LABEL.role]: 'main' });
    const stray = containers.filter((c) => {
      const runner = this.tasks.get(c.labels[LABEL.taskId] ?? '');
      return runner === undefined || (runner.sm.terminal && runner.view().containerId === c.id);
    });
    for (const c of stray) {
      log.warn({ containerId: c.id, taskId: c.labels[LABEL.taskId] }, 'removing a task container left behind by an engine outage');
      await runtime.removeContainer(c.id).catch((err: unknown) => log.error({ containerId: c.id, err: (err as Error).message }, 'remove failed'));
    }
    return stray.length;
  }

  launch(spec: LaunchSpec): TaskView {
    if (this.closed) throw new ExecutorError('UNAVAILABLE', 'the executor is shutting down; launch the task on another host');
    // The core's entry: whichever door the launch came through (gRPC, interLink, run-task), its ContainerInfo is checked here.
    checkContainerInfo(spec.containerInfo);
    const existing = this.tasks.get(spec.taskId);
    if (existing !== undefined) {
      if (sameLaunch(existing.launch, spec)) return existing.view();
      throw new ExecutorError('ALREADY_EXISTS', `task ${spec.taskId} already exists with a different request`);
    }
    // After the same-id check: a control plane retrying a launch that succeeded still gets its task.
    this.host().refuseIfDraining();
    const engine = this.deps.engine;
    if (engine !== undefined && !engine.isUp()) {
      throw new ExecutorError('UNAVAILABLE', `the container engine is ${engine.describeOutage()}; retry later or launch the task on another host`);
    }
    if (this.deps.store !== undefined) refuseIfStateDirFull(this.deps.store.dir, (this.deps.config.logs.reserveMb * 1024 * 1024) / 2);
    if (this.external().some((v) => v.taskId === spec.taskId)) {
      throw new ExecutorError('ALREADY_EXISTS', `task ${spec.taskId} already runs on this host under titus-executor run-task`);
    }
    const image = imageRefFor(spec.containerInfo, this.deps.config.docker.registry);
    checkRequestedProcess(spec.containerInfo);
    checkShmFitsMemory(spec);
    this.security.plan(spec.containerInfo); // refuses unknown profiles, malformed values, devices the host lacks
    this.host().checkFits(spec.resources, this.allocated());
    admitAll(this.deps.parts ?? [], spec);
    let runner: TaskRunner;
    try {
      runner = new TaskRunner(spec, image, this.runnerDeps());
    } catch (err) {
      // The ACCEPTED record could not be written: nothing was streamed or started.
      for (const part of this.deps.parts ?? []) void part.release(spec.taskId).catch(() => undefined);
      throw new ExecutorError('UNAVAILABLE', `cannot record task ${spec.taskId} in the state directory: ${(err as Error).message}`, { cause: err });
    }
    this.tasks.set(spec.taskId, runner);
    runner.start();
    return runner.view();
  }

  /** What every runner, new or recovered, is given. */
  runnerDeps(): ConstructorParameters<typeof TaskRunner>[2] {
    const { deps } = this;
    return {
      runtime: deps.runtime,
      config: deps.config,
      log: deps.log,
      parts: deps.parts ?? [],
      publish: (u, beforeDeliver) => this.bus.publish(u, beforeDeliver),
      executorPid: deps.executorPid ?? process.pid,
      maxStartingSeconds: deps.config.tasks.maxStartingSeconds,
      security: this.security,
      ...(deps.output !== undefined ? { output: deps.output } : {}),
      ...(deps.store !== undefined ? { store: deps.store } : {}),
      ...(this.commit !== undefined ? { commit: this.commit } : {}),
      ...(deps.engine !== undefined ? { engine: deps.engine } : {}),
    };
  }

  /**
   * After a restart: every task in the store is known again at once (Get,
   * List, Watch resume), then, once the engine answers, each unfinished one is
   * re-attached to its container and anything the executor labelled but has
   * no record of is removed. Resolves when that is done.
   */
  async recover(): Promise<RecoveryReport> {
    const store = this.deps.store;
    if (store === undefined) return { restored: 0, resumed: 0, corrupt: 0, orphansRemoved: 0 };
    return recoverTasks({
      store,
      runtime: this.deps.runtime,
      config: this.deps.config,
      log: this.deps.log,
      parts: this.deps.parts ?? [],
      bus: this.bus,
      adopt: (runner) => {
        this.tasks.set(runner.launch.taskId, runner);
        if (runner.sm.terminal) this.rememberEnded(runner.launch.taskId);
      },
      has: (taskId) => this.tasks.has(taskId),
      stopping: () => this.closed,
      newRunner: (record, first) =>
        new TaskRunner(record.launch, record.image, this.runnerDeps(), record.history === undefined ? undefined : record, first),
      ...(this.deps.engine !== undefined ? { engine: this.deps.engine } : {}),
    });
  }

  kill(taskId: string, reason: string, killWaitSeconds?: number): TaskView {
    const runner = this.require(taskId);
    runner.requestKill(reason, this.graceSeconds(runner, killWaitSeconds));
    return runner.view();
  }

  get(taskId: string): TaskView {
    const own = this.tasks.get(taskId);
    if (own !== undefined) return own.view();
    const external = this.external().find((v) => v.taskId === taskId);
    if (external !== undefined) return external;
    return this.require(taskId).view();
  }

  private external(): readonly TaskView[] {
    return this.deps.externalTasks?.() ?? [];
  }

  list(filter: { includeTerminal: boolean; states: readonly TaskState[] }): TaskView[] {
    const wanted = (state: TaskState): boolean => {
      if (!filter.includeTerminal && isTerminal(state) && !filter.states.includes(state)) return false;
      return filter.states.length === 0 || filter.states.includes(state);
    };
    const own = [...this.tasks.values()].map((r) => r.view());
    const ownIds = new Set(own.map((v) => v.taskId));
    const external = this.external().filter((v) => !ownIds.has(v.taskId));
    return [...own, ...external].filter((v) => wanted(v.state));
  }

  /** Last update of each matching task, taken in the same tick as the subscription. */
  snapshot(taskIds: ReadonlySet<string>): StatusUpdate[] {
    const out: StatusUpdate[] = [];
    for (const r of this.tasks.values()) if (taskIds.size === 0 || taskIds.has(r.launch.taskId)) out.push(r.sm.last);
    return out.sort((a, b) => a.sequence - b.sequence);
  }

  subscribe(listener: UpdateListener): () => void {
    return this.bus.subscribe(listener);
  }

  /**
   * A note on a RUNNING task's status that is not a state change (parts get
   * the same through their TaskHandle at acquire, TaskRunner.note): published as one
   * more RUNNING update (RUNNING may repeat), carrying the container id and
   * network like every later update, so GetTask and watchers show it as the
   * task's latest message. Returns false and publishes nothing when the task is
   * not this executor's or not RUNNING. Not from inside a bus listener: defer
   * the call, so that every subscriber sees updates in sequence order.
   */
  annotate(taskId: string, message: string): boolean {
    return this.tasks.get(taskId)?.note(message) ?? false;
  }

  private hostAdmission: HostAdmission | undefined;

  /** The drain flag and the capacity check (src/host); made on first use, from this manager's config. */
  private host(): HostAdmission {
    this.hostAdmission ??= new HostAdmission(this.deps.config, this.deps.log);
    return this.hostAdmission;
  }

  /** Tasks that have not ended, this executor's and run-task's (those count against the host too). */
  private liveTasks(): TaskView[] {
    const own = [...this.tasks.values()].map((r) => r.view());
    const ownIds = new Set(own.map((v) => v.taskId));
    return [...own, ...this.external().filter((v) => !ownIds.has(v.taskId))].filter((v) => !isTerminal(v.state));
  }

  private allocated(): TaskResources {
    return sumResources(this.liveTasks().map((v) => v.resources));
  }

  drainState(): DrainStatus {
    return this.host().drainStatus();
  }

  /** Persisted before it takes effect; running tasks are not touched either way. */
  setDrain(draining: boolean, reason: string): DrainStatus {
    const state = this.host().drain.set(draining, reason);
    this.deps.log.warn({ draining, reason: state.reason }, draining ? 'host drained: new launches are refused' : 'host undrained: launches accepted');
    return state;
  }

  async hostResources(): Promise<HostResourcesView> {
    const engineVersion = await this.deps.runtime.version().catch((err: unknown) => `unreachable: ${(err as Error).message}`);
    const diskQuota = await diskQuotaOf(this.deps.runtime);
    const live = this.liveTasks();
    const allocated = sumResources(live.map((v) => v.resources));
    const capacities = (this.deps.parts ?? []).map((p) => p.capacity?.() ?? {});
    const host = this.host().capacity();
    const total = { ...host.totals, gpus: capacities.reduce((n, c) => n + (c.gpus ?? 0), 0) };
    return {
      total,
      allocated,
      available: availableResources(total, allocated),
      runningTasks: live.length,
      engineVersion,
      hostname: os.hostname(),
      partStatus: capacities.flatMap((c) => (c.status === undefined ? [] : typeof c.status === 'string' ? [c.status] : [...c.status])),
      gpuDevices: capacities.flatMap((c) => c.gpuDevices ?? []),
      drain: this.drainState(),
      disks: host.disks,
      nics: host.nics,
      diskQuota,
    };
  }

  /** Status updates decided but not yet streamed, because the store could not take them yet. */
  heldUpdates(): number {
    let n = 0;
    for (const r of this.tasks.values()) n += r.sm.refusedCount;
    return n;
  }

  /** Stops accepting launches; running tasks keep running (their containers outlive the process). */
  close(): void {
    this.closed = true;
  }

  /**
   * The executor is going away while tasks run on: they are left exactly as
   * they are, for the next executor to pick up from the store.
   */
  abandon(): void {
    this.close();
    for (const r of this.tasks.values()) if (!r.sm.terminal) r.abandon();
  }

  /** Waits for every task's terminal update (tests and per-task mode). */
  async drain(): Promise<void> {
    await Promise.all([...this.tasks.values()].map((r) => r.done));
  }

  private require(taskId: string): TaskRunner {
    const r = this.tasks.get(taskId);
    if (r === undefined) throw new ExecutorError('NOT_FOUND', `no task ${taskId} on this host`);
    return r;
  }

  /** Grace period: the kill's override, else ContainerInfo.killWaitSeconds, else the configured default. */
  private graceSeconds(runner: TaskRunner, override: number | undefined): number {
    const c = this.deps.config.container;
    const fromTask = runner.launch.containerInfo.killWaitSeconds;
    const chosen = override ?? (fromTask !== undefined && fromTask > 0 ? fromTask : c.defaultKillWaitSeconds);
    return Math.min(chosen, c.maxKillWaitSeconds);
  }

  private onUpdate(u: StatusUpdate): void {
    if (isTerminal(u.state)) this.rememberEnded(u.taskId);
  }

  /** Ended tasks are kept up to tasks.retainEnded; the oldest records go, the sequence high-water stays. */
  private rememberEnded(taskId: string): void {
    this.terminalOrder.push(taskId);
    const limit = this.deps.config.tasks.retainEnded;
    if (this.terminalOrder.length <= limit) return;
    try {
      this.deps.store?.writeSequence(this.bus.latestSequence());
      while (this.terminalOrder.length > limit) {
        const old = this.terminalOrder.shift();
        if (old === undefined) continue;
        this.tasks.delete(old);
        this.deps.store?.remove(old);
      }
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'could not drop old task records; retried when the next task ends');
    }
  }
}

const sameLaunch = (a: LaunchSpec, b: LaunchSpec): boolean => isDeepStrictEqual(normalise(a), normalise(b));

/** Buffers from two decodes compare by content. */
const normalise = (s: LaunchSpec): unknown => JSON.parse(JSON.stringify(s)) as unknown;
