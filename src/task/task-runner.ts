import type { ExecutorConfig } from '../config/config.js';
import { errorMessage } from '../common/errors.js';
import { clampTimerDelay, setLongTimeout, type LongTimer } from '../common/long-timer.js';
import type { Logger } from '../common/log.js';
import { TaskSecurity } from './task-security.js';
import { buildContainerSpec } from './build-container-spec.js';
import { diskQuotaNote, diskQuotaOf } from './disk-quota-note.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import type { BindMount, ImageConfig } from '../runtime/container-spec.js';
import { buildEnv } from './env.js';
import type { ImageRef } from '../runtime/image-ref.js';
import { RuntimeError, isRuntimeError } from '../runtime/runtime-errors.js';
import { LABEL } from '../runtime/labels.js';
import type { ContainerExit, ContainerSummary } from '../runtime/container-runtime.js';
import { errorOutcome, exitOutcome, lostOutcome, outcomeForKill, type Outcome } from './outcome.js';
import { removeOwnLeftover } from './owned-container.js';
import type { NewUpdate } from './status-bus.js';
import type { KillRequest, TaskRecord } from './task-record.js';
import type { TaskStore } from './task-store.js';
import { HeldUpdatesRetry, writeUntilStored } from './store-retry.js';
import type { CommitSubject, GroupCommit } from './group-commit.js';
import { admitAll, type PartGrant, type TaskHandle, type TaskPart } from './task-part.js';
import { TaskStateMachine, type FirstUpdate } from './task-state-machine.js';
import type { TaskOutputSink } from '../logs/types.js';
import type { ExitInfo, LaunchSpec, NetworkDetails, PullProgress, StatusUpdate, TaskView } from './types.js';
import { sleepUnlessAborted } from '../common/abortable.js';

export interface TaskRunnerDeps {
  readonly runtime: ContainerRuntime;
  readonly config: ExecutorConfig;
  readonly log: Logger;
  readonly parts: readonly TaskPart[];
  readonly publish: (u: NewUpdate, beforeDeliver?: (u: StatusUpdate) => void) => StatusUpdate;
  readonly executorPid: number;
  /** The durable store: every change is written here before it is streamed. */
  readonly store?: TaskStore;
  /** Whether the engine is reachable; a wait cut by an engine outage resumes when it is back. */
  readonly engine?: EngineAvailability;
  /** Fails a task still not RUNNING this long after it was accepted (stuckInState); 0: never. */
  readonly maxStartingSeconds?: number;
  /** Keeps the task's stdout and stderr on the host (GetLogs); absent in tests that do not need it. */
  readonly output?: TaskOutputSink;
  /** Seccomp/AppArmor, capabilities and devices by the task's attributes; absent: built from config.security. */
  readonly security?: TaskSecurity;
  /** Writes the task's updates together with other tasks' (with a store); without it each is written on the spot. */
  readonly commit?: GroupCommit;
}

export interface EngineAvailability {
  isUp(): boolean;
  /** Resolves once the engine answers again (at once when it does now). */
  whenUp(): Promise<void>;
  /**
   * Called after each reconnection; returns the unsubscribe. A wait that was
   * open when the engine went away is asked again then: an engine killed with
   * SIGKILL may leave it hanging forever, with no error and no exit.
   */
  onReconnect?(listener: () => void): () => void;
}

const MB = 1_000_000;
const OUTPUT_TAIL_BYTES = 16 * 1024;

/**
 * Runs one task through its life: pull, create, start, wait, clean up, then
 * exactly one terminal update. A kill at any point cancels what is in flight;
 * nothing it created outlives it.
 */
export class TaskRunner implements CommitSubject {
  readonly sm: TaskStateMachine;
  readonly acceptedAtMs: number;
  private startedAtMs: number | undefined;
  private finishedAtMs: number | undefined;
  private containerId: string | undefined;
  private containerStarted = false;
  private outputTail: string | undefined;
  private command: readonly string[] = [];
  private exit: ExitInfo | undefined;
  private kill: KillRequest | undefined;
  private stopping: Promise<void> | undefined;
  /** The read of the exited container's output, begun as soon as a stop says it has exited. */
  private outputRead: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly timers: LongTimer[] = [];
  /** Set when the executor stops: the task is left to the next executor, as a crash would leave it. */
  private abandoned = false;
  private readonly log: Logger;
  private finished: Promise<void> = Promise.resolve();
  /** Retries the updates the store refused (held, not streamed); see TaskStateMachine. */
  private readonly held: HeldUpdatesRetry;

  /**
   * A new task (publishes ACCEPTED, written to the store first), or one read
   * back from the store after a restart (`restored`; nothing published).
   */
  constructor(
    readonly launch: LaunchSpec,
    readonly image: ImageRef,
    private readonly deps: TaskRunnerDeps,
    restored?: TaskRecord,
    first?: FirstUpdate,
  ) {
    this.log = deps.log.child({ taskId: launch.taskId });
    this.acceptedAtMs = restored?.acceptedAtMs ?? Date.now();
    if (restored !== undefined) {
      this.startedAtMs = restored.startedAtMs;
      this.finishedAtMs = restored.finishedAtMs;
      this.containerId = restored.containerId;
      this.outputTail = restored.outputTail;
      this.command = restored.command ?? [];
      this.exit = restored.exit;
      this.kill = restored.kill;
    }
    // Every update is written before it is streamed. The first one's write
    // failing fails the launch (nothing is streamed); a later one is held by
    // the state machine and retried here until the store takes it.
    const beforeDeliver = (stamped: StatusUpdate): void => this.persist(stamped);
    this.sm = new TaskStateMachine(launch.taskId, (u) => deps.publish(u, beforeDeliver), restored?.history ?? first);
    this.held = new HeldUpdatesRetry(this.sm, this.log);
    this.sm.onHeld((err) => this.held.start(err));
    // The first update (above) is written on the spot: a launch the store refuses fails.
    const commit = deps.commit;
    if (commit !== undefined && deps.store !== undefined) this.sm.deferTo(() => commit.request(this));
  }

  recordWith(updates: readonly StatusUpdate[]): TaskRecord | undefined {
    if (this.abandoned) return undefined;
    return this.record([...this.sm.history, ...updates]);
  }

  /** Starts the lifecycle in the background; `done` settles after the terminal update. */
  start(): void {
    this.armStartingDeadline();
    this.finished = this.settle(() => this.execute());
  }

  /**
   * After an executor restart: picks the task up where the engine has it.
   * `container` is what the engine lists under the task's labels now
   * (undefined: there is none).
   */
  resume(container: ContainerSummary | undefined): void {
    if (this.sm.terminal) return;
    this.finished = this.settle(() => this.reattach(container));
  }

  /**
   * The executor is stopping while the task runs on: nothing more is done or
   * written for it here (its container keeps running; the next executor
   * re-attaches from the store).
   */
  abandon(): void {
    this.abandoned = true;
    for (const t of this.timers) t.clear();
    this.held.stop();
  }

  /** Writes the task's record (with `update`, which is about to be streamed, as its latest). */
  persist(update?: StatusUpdate): void {
    const store = this.deps.store;
    if (store === undefined || this.abandoned) return;
    const history = (this.sm as TaskStateMachine | undefined)?.history ?? [];
    store.save(this.record(update === undefined ? history : [...history, update]));
  }

  /** As persist(), written off the event loop (the store's group write); throws the RecordWriteError. */
  private async persistOffLoop(): Promise<void> {
    const store = this.deps.store;
    if (store === undefined || this.abandoned) return;
    const [err] = await store.saveMany([this.record(this.sm.history)]);
    if (err !== undefined) throw err;
  }

  private record(history: readonly StatusUpdate[]): TaskRecord {
    return {
      launch: this.launch,
      image: this.image,
      acceptedAtMs: this.acceptedAtMs,
      ...(this.startedAtMs !== undefined ? { startedAtMs: this.startedAtMs } : {}),
      ...(this.finishedAtMs !== undefined ? { finishedAtMs: this.finishedAtMs } : {}),
      ...(this.containerId !== undefined ? { containerId: this.containerId } : {}),
      ...(this.command.length > 0 ? { command: this.command } : {}),
      ...(this.exit !== undefined ? { exit: this.exit } : {}),
      ...(this.outputTail !== undefined ? { outputTail: this.outputTail } : {}),
      ...(this.kill !== undefined ? { kill: this.kill } : {}),
      history,
    };
  }

  get done(): Promise<void> {
    return this.finished;
  }

  /** Idempotent: the first call decides the grace period. */
  requestKill(reason: string, graceSeconds: number, cause?: KillRequest['cause']): void {
    // Not once the task has ended, even when its end is still held for the store.
    if (!this.sm.canMoveTo('KILL_INITIATED') || this.kill !== undefined) return;
    this.kill = { reason, graceSeconds, ...(cause !== undefined ? { cause } : {}) };
    this.log.info({ graceSeconds, reason, cause }, 'kill requested');
    const message = cause === undefined ? `kill requested${reason === '' ? '' : `: ${reason}`}` : reason;
    // On the spot (when nothing is held): KillTask answers with KILL_INITIATED, stored.
    this.sm.transition('KILL_INITIATED', message, cause ?? 'killed', {}, { now: true });
    this.abort.abort();
    if (this.containerStarted) void this.stopContainer();
  }

  /**
   * A note on a RUNNING task's status that is not a state change: one more
   * RUNNING update (RUNNING may repeat), carrying the container id and network
   * like every later update. False, and nothing published, when the task is not
   * RUNNING or its end is decided (held for the store: RUNNING may no longer follow).
   */
  note(message: string): boolean {
    if (this.sm.state !== 'RUNNING' || !this.sm.canMoveTo('RUNNING')) return false;
    this.sm.transition('RUNNING', message);
    return true;
  }

  view(): TaskView {
    const last = this.sm.last;
    return {
      taskId: this.launch.taskId,
      state: last.state,
      resources: this.launch.resources,
      containerInfo: this.launch.containerInfo,
      labels: this.launch.labels,
      image: this.image.ref,
      ...(this.containerId !== undefined ? { containerId: this.containerId } : {}),
      lastUpdate: last,
      history: this.sm.history,
      acceptedAtMs: this.acceptedAtMs,
      ...(this.startedAtMs !== undefined ? { startedAtMs: this.startedAtMs } : {}),
      ...(this.finishedAtMs !== undefined ? { finishedAtMs: this.finishedAtMs } : {}),
      ...(this.outputTail !== undefined ? { outputTail: this.outputTail } : {}),
      ...(this.launch.runtimeLimitSeconds !== undefined ? { runtimeLimitSeconds: this.launch.runtimeLimitSeconds } : {}),
    };
  }

  /** Runs `body` to an outcome, cleans up, then sends the one terminal update. */
  private async settle(body: () => Promise<Outcome>): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await body();
    } catch (err) {
      outcome = this.kill !== undefined ? outcomeForKill(this.kill, this.exit) : errorOutcome(err, this.containerStarted);
      this.log.warn({ err: errorMessage(err), state: outcome.state }, 'task ended with an error');
    }
    for (const t of this.timers) t.clear();
    if (this.abandoned) return;
    // The task's end is stored before the container goes (its exit, or a stored
    // kill: see killStored): if the store is full, the container is kept until it
    // is not, so a restart still finds the task's real end instead of a container
    // that is gone. Written once no group-committed write of this task can overtake it.
    await this.sm.whenIdle();
    // Reading the exited container's output only reads: it overlaps the write
    // of the exit (off the event loop), and the container is removed after both.
    const output = this.readOutput();
    if (!this.killStored()) await writeUntilStored(() => this.persistOffLoop(), this.log, () => this.abandoned);
    if (this.abandoned) {
      await output.catch(() => undefined);
      return;
    }
    const cleanupErrors = await this.cleanup(output);
    const message = cleanupErrors.length === 0 ? outcome.message : `${outcome.message} (cleanup: ${cleanupErrors.join('; ')})`;
    this.finishedAtMs = Date.now();
    this.sm.transition(outcome.state, message, outcome.reason, outcome.exit !== undefined ? { exit: outcome.exit } : {});
    // Followers of the logs stop once the end is streamed (group commit), or held for a retry, as before.
    await this.sm.whenIdle();
    this.deps.output?.ended(this.launch.taskId, this.finishedAtMs);
    // `done` means the terminal update is stored and streamed.
    await this.held.written();
    this.log.info({ state: outcome.state, message }, 'task finished');
  }

  private async execute(): Promise<Outcome> {
    // /dev/shm against memory was checked at launch (TaskManager.launch), before the record was written.
    this.progress(`pulling image ${this.image.ref}`);
    const imageConfig = await this.ensureImage();
    const killedWhilePulling = this.killedOutcome();
    if (killedWhilePulling !== undefined) return killedWhilePulling;
    this.progress('setting up network and devices');
    const grants = await this.acquireParts();
    const killedWhileAcquiring = this.killedOutcome();
    if (killedWhileAcquiring !== undefined) return killedWhileAcquiring;
    this.progress('creating container');
    const id = await this.createContainer(imageConfig, grants);
    const killedWhileCreating = this.killedOutcome();
    if (killedWhileCreating !== undefined) return killedWhileCreating;
    // Only a runtime that can tell (not the core's test fakes) adds this update.
    const disk = this.deps.runtime.diskQuota === undefined ? undefined : diskQuotaNote(this.launch.resources.diskMb, await diskQuotaOf(this.deps.runtime));
    if (disk !== undefined) this.progress(disk);
    // From here on every update carries the task's address (the state machine keeps it on later ones).
    const network = grants.reduce<NetworkDetails | undefined>((found, g) => g.network ?? found, undefined);
    this.progress('starting container', { containerId: id, ...(network !== undefined ? { network } : {}) });
    await this.deps.runtime.startContainer(id);
    this.containerStarted = true;
    this.startedAtMs = Date.now();
    this.deps.output?.collect(this.launch.taskId, id);
    if (this.kill !== undefined) void this.stopContainer();
    else this.markRunning('main container is now running');
    return this.untilExit(id);
  }

  /** Re-attaches to what the engine has of the task after a restart. */
  private async reattach(container: ContainerSummary | undefined): Promise<Outcome> {
    if (this.exit !== undefined && (container === undefined || container.state !== 'running')) {
      // It exited (and was seen to) before the executor went down. Its last
      // lines may not be stored yet: copy them (lines already kept are skipped).
      if (container !== undefined) {
        this.containerId = container.id;
        this.containerStarted = true;
        this.deps.output?.collect(this.launch.taskId, container.id);
      }
      return this.kill !== undefined ? outcomeForKill(this.kill, this.exit) : exitOutcome(this.exit, this.command);
    }
    if (container === undefined && this.containerId !== undefined) {
      // Killed, and removed before the end was stored (settle does not wait for the exit after a stored kill).
      if (this.kill !== undefined) return outcomeForKill(this.kill);
      return lostOutcome(`container ${this.containerId} is gone: it was removed while the executor was not running`);
    }
    if (container === undefined || container.state === 'created') return this.startOver(container);
    this.containerId = container.id;
    this.containerStarted = true;
    this.deps.output?.collect(this.launch.taskId, container.id);
    this.log.info({ containerId: container.id, engineState: container.state }, 're-attached to the task container after a restart');
    if (this.kill !== undefined) void this.stopContainer();
    else if (this.sm.state !== 'RUNNING') this.markRunning('main container is running (re-attached after an executor restart)');
    else this.armRuntimeLimit();
    return this.untilExit(container.id);
  }

  /**
   * The executor went down before the task's process ever ran (pulling,
   * setting up, created but not started): nothing of it can have run, so it
   * starts again from the top, with its parts released and admitted afresh.
   */
  private async startOver(created: ContainerSummary | undefined): Promise<Outcome> {
    if (created !== undefined) {
      this.containerId = created.id; // if the removal fails, cleanup tries again
      await this.deps.runtime.removeContainer(created.id);
    }
    this.containerId = undefined;
    if (this.kill !== undefined) return outcomeForKill(this.kill);
    for (const part of [...this.deps.parts].reverse()) await part.release(this.launch.taskId);
    try {
      admitAll(this.deps.parts, this.launch);
    } catch (err) {
      return lostOutcome(`the executor restarted before the task's container started, and its resources cannot be had again: ${errorMessage(err)}`);
    }
    this.log.info('the executor restarted before the task\'s container started; starting it again');
    this.progress('the executor restarted before the container started; starting again');
    this.armStartingDeadline();
    return this.execute();
  }

  /** Waits for the container's exit, through engine outages, and records it before cleanup. */
  private async untilExit(id: string): Promise<Outcome> {
    // After a kill, the engine's `die` comes a few ms before its stop answers
    // and the output is all logged by then, so reading it starts there. Not for
    // a task's own exit: an engine shutting down kills its containers too, and
    // their output is read once it is back (wait, then settle) instead.
    const unwatch = this.deps.runtime.onContainerExited?.(id, () => {
      if (this.kill !== undefined) this.outputRead ??= this.readExitedOutput();
    });
    let exit: ContainerExit;
    try {
      exit = await this.waitThroughOutages(id);
    } finally {
      unwatch?.();
    }
    this.log.info({ exitCode: exit.exitCode, oomKilled: exit.oomKilled }, 'container exited');
    // Stored (durably, before the container is removed) by settle().
    this.exit = { exitCode: exit.exitCode, oomKilled: exit.oomKilled };
    if (this.kill !== undefined) return outcomeForKill(this.kill, this.exit);
    return exitOutcome(exit, this.command);
  }

  private async waitThroughOutages(id: string): Promise<ContainerExit> {
    const engine = this.deps.engine;
    for (;;) {
      try {
        return await this.waitUntilReconnect(id);
      } catch (err) {
        if (engine === undefined || !(isRuntimeError(err, 'engine-unavailable') || isRuntimeError(err, 'aborted'))) throw err;
        this.log.warn({ err: errorMessage(err) }, 'container engine unreachable while the task runs; waiting for it to come back');
        await engine.whenUp();
        // Not events (a SIGKILLed engine sends none): the engine is asked again, and a
        // container it stopped at its restart, or that exited meanwhile, answers at once.
        this.log.info('container engine is back; re-attaching to the task container');
        // The engine's log stream was cut too.
        this.deps.output?.collect(this.launch.taskId, id);
        if (this.kill !== undefined) {
          this.stopping = undefined;
          this.outputRead = undefined; // of an engine that has gone: read again after the new stop
          void this.stopContainer();
        }
      }
    }
  }

  /**
   * One wait on the engine, given up (as 'aborted') when the engine reconnects
   * while it is open: that wait was made of an engine that has gone since.
   */
  private async waitUntilReconnect(id: string): Promise<ContainerExit> {
    const attempt = new AbortController();
    const unsubscribe = this.deps.engine?.onReconnect?.(() => attempt.abort());
    const cut = new Promise<never>((_, reject) => {
      attempt.signal.addEventListener('abort', () => reject(new RuntimeError('aborted', 'the container engine restarted while the task was waited on')), { once: true });
    });
    const wait = this.deps.runtime.waitContainer(id, attempt.signal, () => this.killStored());
    wait.catch(() => undefined); // when the cut wins, the dropped request's rejection is expected
    try {
      return await Promise.race([wait, cut]);
    } finally {
      unsubscribe?.();
      attempt.abort();
    }
  }

  /** Runs `fn`; if the engine was unreachable, waits for it to come back and runs it once more. */
  private async throughOneOutage<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (this.deps.engine === undefined || !isRuntimeError(err, 'engine-unavailable')) throw err;
      this.log.warn({ err: errorMessage(err) }, 'container engine unreachable during cleanup; waiting for it to come back');
      await this.deps.engine.whenUp();
      return fn();
    }
  }

  private markRunning(message: string): void {
    this.sm.transition('RUNNING', message);
    this.armRuntimeLimit();
  }

  /**
   * The runtime limit counts from the container's start, across restarts.
   * A long-delay timer: a limit past 24.8 days would fire at once with Node's own.
   */
  private armRuntimeLimit(): void {
    const limit = this.launch.runtimeLimitSeconds;
    if (limit === undefined || limit <= 0) return;
    const elapsed = Date.now() - (this.startedAtMs ?? Date.now());
    const timer = setLongTimeout(() => {
      this.requestKill(`task exceeded its runtime limit of ${limit} s`, this.deps.config.container.defaultKillWaitSeconds, 'runtimeLimitExceeded');
    }, Math.max(0, limit * 1000 - elapsed));
    timer.unref();
    this.timers.push(timer);
  }

  /** A task that is not RUNNING in time (a pull or a part that hangs) fails instead of hanging forever. */
  private armStartingDeadline(): void {
    const seconds = this.deps.maxStartingSeconds ?? 0;
    if (seconds <= 0) return;
    const timer = setLongTimeout(() => {
      if (this.sm.state !== 'ACCEPTED' && this.sm.state !== 'STARTING') return;
      const last = this.sm.last.message;
      this.requestKill(`task stuck in STARTING for more than ${seconds} s (last: ${last})`, 0, 'stuckInState');
    }, seconds * 1000);
    timer.unref();
    this.timers.push(timer);
  }

  /**
   * A kill is the task's end once it is stored (nothing of the task held for
   * the store): a restart that finds the container gone reports the kill
   * (reattach), so the exit need not be stored before the removal.
   */
  private killStored(): boolean {
    return this.kill !== undefined && this.sm.heldCount === 0;
  }

  private killedOutcome(): Outcome | undefined {
    return this.kill === undefined ? undefined : outcomeForKill(this.kill);
  }

  /** A STARTING update, unless a kill has moved the task on. */
  private progress(message: string, extras: { containerId?: string; pull?: PullProgress; network?: NetworkDetails } = {}): void {
    if (this.kill !== undefined || !this.sm.canMoveTo('STARTING')) return;
    this.sm.transition('STARTING', message, 'normal', extras);
  }

  /** A digest-pinned image already present is reused; tags are mutable and always pulled. */
  private async ensureImage(): Promise<ImageConfig> {
    const { runtime } = this.deps;
    if (this.image.digest !== undefined) {
      const local = await runtime.findImage(this.image.ref);
      if (local !== undefined) return local;
    }
    await this.pullWithRetries();
    const pulled = await runtime.findImage(this.image.ref);
    if (pulled === undefined) throw new RuntimeError('engine', `image ${this.image.ref} is missing right after its pull`);
    return pulled;
  }

  private async pullWithRetries(): Promise<void> {
    const { pullAttempts, pullBackoffMs } = this.deps.config.docker;
    const onProgress = (p: PullProgress): void => {
      if (p.layersTotal === 0) return; // nothing known yet: no update worth sending
      const text = `pulling image ${this.image.ref}: ${(p.currentBytes / MB).toFixed(1)} of ${(p.totalBytes / MB).toFixed(1)} MB (${p.layersDone}/${p.layersTotal} layers)`;
      this.progress(text, { pull: p });
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const taskAuth = this.launch.pullAuthsFile === undefined ? undefined : { authsFile: this.launch.pullAuthsFile };
        await this.deps.runtime.pullImage(this.image, onProgress, this.abort.signal, taskAuth);
        return;
      } catch (err) {
        // A refused login is not transient: retrying with the same credentials only delays the answer.
        const final =
          attempt >= pullAttempts || isRuntimeError(err, 'image-not-found') || isRuntimeError(err, 'pull-denied') || isRuntimeError(err, 'aborted');
        if (final) throw err;
        // Doubling from a configured base: clamped, or a long retry run would overflow the timer and spin.
        const delay = clampTimerDelay(pullBackoffMs * 2 ** (attempt - 1));
        this.log.warn({ attempt, delayMs: delay, err: errorMessage(err) }, 'image pull failed; retrying');
        if (!(await sleepUnlessAborted(delay, this.abort.signal))) throw new RuntimeError('aborted', 'cancelled');
      }
    }
  }

  private async acquireParts(): Promise<PartGrant[]> {
    const grants: PartGrant[] = [];
    const task: TaskHandle = { view: () => this.view(), note: (message) => this.note(message) };
    for (const part of this.deps.parts) grants.push(await part.acquire(this.launch, this.abort.signal, task));
    return grants;
  }

  private async createContainer(imageConfig: ImageConfig, grants: readonly PartGrant[]): Promise<string> {
    const { config } = this.deps;
    const { env, skipped } = buildEnv({
      taskId: this.launch.taskId,
      info: this.launch.containerInfo,
      resources: this.launch.resources,
      image: this.image,
      hardCoded: config.container.hardCodedEnv,
    });
    if (skipped.length > 0) this.log.warn({ skipped }, 'environment variables skipped');
    let runtime: string | undefined;
    let networkMode: string | undefined;
    let networkDisabled = false;
    const labels: Record<string, string> = {};
    const mounts: BindMount[] = [];
    for (const g of grants) {
      Object.assign(env, g.env ?? {});
      Object.assign(labels, g.labels ?? {});
      mounts.push(...(g.mounts ?? []));
      runtime = g.runtime ?? runtime;
      networkMode = g.networkMode ?? networkMode;
      networkDisabled = g.networkDisabled ?? networkDisabled;
    }
    const spec = buildContainerSpec({
      launch: this.launch,
      image: this.image,
      imageConfig,
      env,
      config,
      executorPid: this.deps.executorPid,
      extraLabels: labels,
      ...(runtime !== undefined ? { runtime } : {}),
      ...(networkMode !== undefined ? { networkMode } : {}),
      ...(networkDisabled ? { networkDisabled } : {}),
      ...(mounts.length > 0 ? { mounts } : {}),
      security: (this.deps.security ?? new TaskSecurity(config.security)).plan(this.launch.containerInfo),
    });
    this.command = [...spec.entrypoint, ...spec.cmd];
    // Not written here on its own: the next update ('starting container', or the kill's
    // end in settle()) carries the id to the store in the same tick, before the engine is
    // asked anything else, and a burst pays one fsync fewer per launch.
    this.containerId = await this.createOrReplace(spec);
    return this.containerId;
  }

  /**
   * The container name is the task id. A leftover of this task made by this
   * executor (a crash between create and record) is replaced once; a container
   * of that name that someone else owns (run-task, another executor, a person)
   * is never touched.
   */
  private async createOrReplace(spec: Parameters<ContainerRuntime['createContainer']>[0]): Promise<string> {
    try {
      return await this.deps.runtime.createContainer(spec);
    } catch (err) {
      if (!isRuntimeError(err, 'conflict')) throw err;
      await removeOwnLeftover(this.deps.runtime, spec.name, {
        [LABEL.executor]: this.deps.config.executorId,
        [LABEL.taskId]: this.launch.taskId,
        [LABEL.role]: 'main',
      });
      this.log.warn({ name: spec.name }, 'replaced a container this executor had made for this task');
      return this.deps.runtime.createContainer(spec);
    }
  }

  private stopContainer(): Promise<void> {
    const id = this.containerId;
    if (id === undefined || this.kill === undefined) return Promise.resolve();
    const grace = this.kill.graceSeconds;
    this.stopping ??= this.deps.runtime.stopContainer(id, grace).then(
      () => {
        // A stop answers once the container has exited: its output can be read now,
        // side by side with the engine's inspect of the exit, not one round trip later.
        this.outputRead ??= this.readExitedOutput();
      },
      (err: unknown) => {
        this.log.error({ err: errorMessage(err) }, 'stop failed; the container is force-removed during cleanup');
      },
    );
    return this.stopping;
  }

  /** The rest of the exited container's output into the task's logs, and its tail for the status. */
  private async readOutput(): Promise<void> {
    if (this.stopping !== undefined) await this.stopping;
    return (this.outputRead ??= this.readExitedOutput());
  }

  private async readExitedOutput(): Promise<void> {
    if (this.containerId === undefined || !this.containerStarted) return;
    // Both only read the exited container: side by side, not one engine round trip after the other.
    const [, tail] = await Promise.all([
      this.deps.output?.finish(this.launch.taskId),
      this.deps.runtime.containerOutput(this.containerId, OUTPUT_TAIL_BYTES).catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'could not read the container output');
        return undefined;
      }),
    ]);
    this.outputTail = tail ?? this.outputTail;
  }

  /** Removes the container once `output` is read, and releases every part; returns what could not be cleaned. */
  private async cleanup(output: Promise<void>): Promise<string[]> {
    const errors: string[] = [];
    await output;
    if (this.containerId !== undefined) {
      const id = this.containerId;
      await this.throughOneOutage(() => this.deps.runtime.removeContainer(id)).catch((err: unknown) => {
        errors.push(`remove container: ${errorMessage(err)}`);
      });
    }
    for (const part of [...this.deps.parts].reverse()) {
      await part.release(this.launch.taskId).catch((err: unknown) => {
        errors.push(`release ${part.name}: ${errorMessage(err)}`);
      });
    }
    if (errors.length > 0) this.log.error({ errors }, 'cleanup incomplete');
    return errors;
  }
}

