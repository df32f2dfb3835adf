import { errorMessage, isExecutorError, type ExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { clampTimerDelay, setLongTimeout, type LongTimer } from '../common/long-timer.js';
import type { SharedNetworks } from '../task/shared-networks.js';
import type { LaunchSpec, StatusUpdate, TaskView } from '../task/types.js';
import {
  applyUpdate,
  isEnded,
  isSucceeded,
  recordFromView,
  toContainerStatus,
  type ContainerRecord,
  type K8sContainerStatus,
  type RunHistory,
} from './container-status.js';
import { deadlineAtMs, DEADLINE_MESSAGE, statusAfterDeadline } from './pod-deadline.js';
import { parsePodTaskId, runTaskId } from './pod-names.js';
import type { PlannedContainer } from './pod-plan.js';
import type { PodStore, StoredPod } from './pod-store.js';
import { backoffMs, shouldRestart, type RestartBackoff } from './restart-policy.js';

/** The task core as a pod needs it; TaskManager is one. */
export interface PodTasks {
  launch(spec: LaunchSpec): TaskView;
  kill(taskId: string, reason: string, killWaitSeconds?: number): TaskView;
  get(taskId: string): TaskView;
}

export interface PodSupervisorDeps {
  readonly tasks: PodTasks;
  readonly store: PodStore;
  readonly log: Logger;
  /** Between launch attempts while the engine or the host is unavailable. */
  readonly retryMs?: number;
  /** Before a container runs again (restartPolicy). */
  readonly restartBackoff: RestartBackoff;
  /** The pod's shared network (keyed by its UID), removed once its last container has ended. */
  readonly sharedNetworks?: SharedNetworks;
}

/** interLink's PodStatus. */
export interface PodStatusAnswer {
  readonly name: string;
  readonly UID: string;
  readonly namespace: string;
  readonly JID: string;
  readonly containers: K8sContainerStatus[];
  readonly initContainers: K8sContainerStatus[];
}

const DEFAULT_RETRY_MS = 2000;

/**
 * Runs one pod: its init containers one at a time, each to exit 0, then all
 * its containers; keeps each container's record current from the task core's
 * updates; runs a container that ended again as the restartPolicy says, after
 * a crash-loop back-off, each run as a task of its own (runTaskId); deletes
 * the pod with its grace period. A failed init container the policy does not
 * restart ends the pod.
 */
export class PodSupervisor {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, PlannedContainer>();
  /** Containers whose current run was launched. */
  private readonly launched: string[];
  /** The final record of each container's current run, once it has ended. */
  private readonly ended: Record<string, ContainerRecord>;
  private readonly restarts: Record<string, number>;
  private readonly previous: Record<string, ContainerRecord>;
  private readonly changed = new Set<() => void>();
  private readonly log: Logger;
  /** Set by delete: launch nothing more. */
  private cancelled = false;
  /** Set by halt (the executor stops): launch nothing more, kill nothing. */
  private halted = false;
  private sequence: Promise<void> = Promise.resolve();
  private deleting: Promise<void> | undefined;
  /** activeDeadlineSeconds: set when the deadline stopped the pod. */
  private deadlineExceededAtMs: number | undefined;
  private deadlineTimer: LongTimer | undefined;
  private sequenceDone = false;

  constructor(
    private readonly stored: StoredPod,
    private readonly deps: PodSupervisorDeps,
  ) {
    this.log = deps.log.child({ podUid: stored.plan.pod.uid, pod: `${stored.plan.pod.namespace}/${stored.plan.pod.name}` });
    this.launched = [...stored.launched];
    this.ended = { ...stored.ended };
    this.restarts = { ...stored.restarts };
    this.previous = { ...stored.previous };
    this.deadlineExceededAtMs = stored.deadlineExceededAtMs;
    // Stopped by its deadline before a restart: nothing of it runs again.
    if (this.deadlineExceededAtMs !== undefined) this.cancelled = true;
    for (const c of stored.plan.containers) {
      this.byName.set(c.name, c);
      this.records.set(c.name, this.initialRecord(c));
    }
  }

  get uid(): string {
    return this.stored.plan.pod.uid;
  }

  get graceSeconds(): number {
    return this.stored.plan.graceSeconds;
  }

  /** What a new supervisor knows of a container: its end, the task core's view, or that it is lost or not launched. */
  private initialRecord(c: PlannedContainer): ContainerRecord {
    const ended = this.ended[c.name];
    if (ended !== undefined) return ended;
    if (!this.launched.includes(c.name)) return {};
    try {
      const record = recordFromView(this.deps.tasks.get(this.currentTaskId(c)));
      if (isEnded(record)) this.ended[c.name] = record;
      return record;
    } catch (err) {
      if (!isExecutorError(err, 'NOT_FOUND')) throw err;
      // Launched (or about to be) when the executor stopped, and the task core has no record of it.
      const lost: ContainerRecord = { lost: true, finishedAtMs: Date.now() };
      this.ended[c.name] = lost;
      this.log.warn({ container: c.name }, 'a launched container is unknown after a restart; reported as ContainerStatusUnknown');
      return lost;
    }
  }

  /** Starts (or, after a restart, resumes) the pod's sequence in the background. */
  start(): void {
    if (Object.keys(this.ended).length > Object.keys(this.stored.ended).length) void this.persist();
    this.sequence = this.runSequence()
      .catch((err: unknown) => {
        this.log.error({ err: errorMessage(err) }, 'pod sequence stopped on an unexpected error');
      })
      .finally(() => {
        this.sequenceDone = true;
      });
    this.armDeadline();
    void this.sequence.then(() => this.releaseNetworkOnceEnded());
  }

  /** A status update from the task core; ignored unless it is about the current run of one of this pod's containers. */
  onUpdate(u: StatusUpdate): void {
    const run = parsePodTaskId(u.taskId);
    const c = run === undefined ? undefined : this.byName.get(run.container);
    if (c === undefined || run?.restarts !== (this.restarts[c.name] ?? 0)) return;
    const before = this.records.get(c.name) ?? {};
    if (isEnded(before)) return;
    const record = applyUpdate(before, u);
    this.records.set(c.name, record);
    if (isEnded(record)) {
      this.ended[c.name] = record;
      void this.persist();
    }
    this.notify();
  }

  status(): PodStatusAnswer {
    const { pod, containers } = this.stored.plan;
    const gaveUp = this.gaveUp();
    const of = (c: PlannedContainer): K8sContainerStatus => {
      let record = this.records.get(c.name) ?? {};
      // interLink's virtual kubelet fails a pod only once every container reads terminated.
      if (gaveUp !== undefined && !isEnded(record)) record = { skipped: gaveUp.why, finishedAtMs: gaveUp.atMs };
      const status = toContainerStatus(c.name, c.image, c.init, record, this.runsOf(c));
      const exceededAt = this.deadlineExceededAtMs;
      return exceededAt === undefined ? status : statusAfterDeadline(status, exceededAt, { ended: isEnded(record), finishedAtMs: record.finishedAtMs });
    };
    return {
      name: pod.name,
      UID: pod.uid,
      namespace: pod.namespace,
      JID: pod.uid,
      containers: containers.filter((c) => !c.init).map(of),
      initContainers: containers.filter((c) => c.init).map(of),
    };
  }

  /**
   * The init container that failed for good (the restartPolicy does not run it
   * again, or its launch was refused), after which nothing more of the pod runs.
   */
  gaveUp(): { why: string; atMs: number } | undefined {
    for (const c of this.stored.plan.containers.filter((x) => x.init)) {
      const r = this.records.get(c.name) ?? {};
      if (!isEnded(r)) return undefined;
      if (isSucceeded(r)) continue;
      if (shouldRestart(this.stored.plan.restartPolicy, true, r)) return undefined;
      const how = r.refused !== undefined ? 'could not start' : r.exit !== undefined ? `exited with code ${r.exit.exitCode}` : 'failed';
      return { why: `not started: init container ${c.name} ${how} and restartPolicy ${this.stored.plan.restartPolicy} does not run it again`, atMs: r.finishedAtMs ?? Date.now() };
    }
    return undefined;
  }

  /** The planned container by name, with its record and the task ids of its current and previous runs. */
  container(name: string): { planned: PlannedContainer; record: ContainerRecord; taskId: string; previousTaskId?: string } | undefined {
    const planned = this.byName.get(name);
    if (planned === undefined) return undefined;
    const restarts = this.restarts[name] ?? 0;
    return {
      planned,
      record: this.records.get(name) ?? {},
      taskId: runTaskId(planned.taskId, restarts),
      ...(restarts > 0 ? { previousTaskId: runTaskId(planned.taskId, restarts - 1) } : {}),
    };
  }

  private runsOf(c: PlannedContainer): RunHistory {
    const previous = this.previous[c.name];
    return { restarts: this.restarts[c.name] ?? 0, ...(previous !== undefined ? { previous } : {}) };
  }

  private currentTaskId(c: PlannedContainer): string {
    return runTaskId(c.taskId, this.restarts[c.name] ?? 0);
  }

  /**
   * Stops the sequence, kills every running container with `graceSeconds`
   * (the task core escalates to SIGKILL after it) and resolves once each has
   * ended and been removed. Idempotent: a second call waits for the first.
   */
  delete(graceSeconds: number): Promise<void> {
    this.deleting ??= this.runDelete(graceSeconds);
    return this.deleting;
  }

  /** The executor is stopping: launch nothing more; running containers keep running. */
  halt(): void {
    this.halted = true;
    this.deadlineTimer?.clear();
    this.notify();
  }

  private async runDelete(graceSeconds: number): Promise<void> {
    this.cancelled = true;
    this.deadlineTimer?.clear();
    this.notify();
    await this.sequence;
    const live = this.stored.plan.containers.filter((c) => this.launched.includes(c.name) && !isEnded(this.records.get(c.name) ?? {}));
    this.log.info({ graceSeconds, containers: live.map((c) => c.name) }, 'deleting pod');
    for (const c of live) {
      try {
        this.deps.tasks.kill(this.currentTaskId(c), 'pod deleted through interLink', graceSeconds);
      } catch (err) {
        if (!isExecutorError(err, 'NOT_FOUND')) throw err;
        this.records.set(c.name, { lost: true, finishedAtMs: Date.now() });
      }
    }
    await Promise.all(live.map((c) => this.untilEnded(c, false)));
    await this.releaseNetworkOnceEnded();
  }

  /** After the pod's last container has ended; not when the executor halts (they run on). Idempotent. */
  private async releaseNetworkOnceEnded(): Promise<void> {
    const network = this.deps.sharedNetworks;
    if (network === undefined) return;
    const launched = this.stored.plan.containers.filter((c) => this.launched.includes(c.name));
    await Promise.all(launched.map((c) => this.untilEnded(c, false)));
    if (this.halted) return;
    await network.remove(this.uid).catch((err: unknown) => {
      this.log.error({ err: errorMessage(err) }, "could not remove the pod's shared network; it is tried again when the pod is deleted, and at the first executor start after that");
    });
  }

  private async runSequence(): Promise<void> {
    const { containers } = this.stored.plan;
    for (const c of containers.filter((x) => x.init)) {
      await this.runUntilDone(c);
      if (this.stopped()) return;
      if (!isSucceeded(this.records.get(c.name) ?? {})) {
        this.log.info({ container: c.name }, 'init container did not succeed; the pod fails and its containers are not started');
        return;
      }
    }
    await Promise.all(containers.filter((x) => !x.init).map((c) => this.runUntilDone(c)));
  }

  /** Runs the container, and again while the restart policy says so, until it stays ended or the pod stops. */
  private async runUntilDone(c: PlannedContainer): Promise<void> {
    for (;;) {
      await this.backOff(c);
      await this.launchOnce(c);
      await this.untilEnded(c, true);
      const ended = this.records.get(c.name) ?? {};
      if (this.stopped() || !isEnded(ended) || !shouldRestart(this.stored.plan.restartPolicy, c.init, ended)) return;
      this.restarts[c.name] = (this.restarts[c.name] ?? 0) + 1;
      this.previous[c.name] = ended;
      delete this.ended[c.name];
      this.launched.splice(this.launched.indexOf(c.name), 1);
      this.records.set(c.name, {});
      this.log.info({ container: c.name, restarts: this.restarts[c.name], exit: ended.exit }, `container ended; restarting it (restartPolicy ${this.stored.plan.restartPolicy})`);
      await this.persist();
    }
  }

  /** Before a restart (also one interrupted by an executor restart): waits out the back-off, reported as CrashLoopBackOff. */
  private async backOff(c: PlannedContainer): Promise<void> {
    const restarts = this.restarts[c.name] ?? 0;
    const previous = this.previous[c.name];
    if (restarts === 0 || previous === undefined || this.launched.includes(c.name)) return;
    const delayMs = backoffMs(restarts, previous, this.deps.restartBackoff);
    const untilMs = (previous.finishedAtMs ?? Date.now()) + delayMs;
    const { pod } = this.stored.plan;
    const message = `back-off ${Math.round(delayMs / 1000)}s restarting failed container=${c.name} pod=${pod.name}_${pod.namespace}(${pod.uid})`;
    this.records.set(c.name, { backoffUntilMs: untilMs, message });
    this.notify();
    while (!this.stopped() && Date.now() < untilMs) await this.waitForChange(untilMs - Date.now());
    this.records.set(c.name, {});
  }

  private stopped(): boolean {
    return this.cancelled || this.halted;
  }

  /**
   * Launches the container's task unless it was launched before. It is marked
   * launched on disk first, so a restart never launches it twice (at worst it
   * is reported lost). While the engine or host is unavailable it retries.
   */
  private async launchOnce(c: PlannedContainer): Promise<void> {
    if (this.launched.includes(c.name) || this.stopped()) return;
    this.launched.push(c.name);
    await this.persist();
    for (;;) {
      if (this.cancelled) {
        this.records.set(c.name, { ...this.records.get(c.name), refused: { code: 'UNAVAILABLE', message: 'the pod was deleted before the container started' } });
        return;
      }
      if (this.halted) {
        // Never launched after all: the next start of the executor launches it.
        this.launched.splice(this.launched.indexOf(c.name), 1);
        await this.persist();
        return;
      }
      try {
        const view = this.deps.tasks.launch({ ...c.launch, taskId: this.currentTaskId(c) });
        // Updates published during launch arrived through onUpdate; the view covers a task that already existed.
        const current = this.records.get(c.name) ?? {};
        if (current.state === undefined) this.records.set(c.name, recordFromView(view));
        return;
      } catch (err) {
        if (isExecutorError(err, 'UNAVAILABLE')) {
          this.records.set(c.name, { message: `waiting to launch: ${err.message}` });
          await this.waitForChange(this.deps.retryMs ?? DEFAULT_RETRY_MS);
          continue;
        }
        const refused: ContainerRecord = {
          refused: { code: isExecutorError(err) ? (err as ExecutorError).code : 'INTERNAL', message: errorMessage(err) },
          finishedAtMs: Date.now(),
        };
        this.log.warn({ container: c.name, err: errorMessage(err) }, 'container launch refused');
        this.records.set(c.name, refused);
        this.ended[c.name] = refused;
        await this.persist();
        this.notify();
        return;
      }
    }
  }

  /**
   * Resolves once the container has ended, or the executor halts (its
   * containers keep running), or, with `orCancelled`, the pod is being deleted.
   */
  private untilEnded(c: PlannedContainer, orCancelled: boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (isEnded(this.records.get(c.name) ?? {}) || this.halted || (orCancelled && this.cancelled)) {
          this.changed.delete(check);
          resolve();
        }
      };
      this.changed.add(check);
      check();
    });
  }

  /** Resolves on the next change of any record or flag, or after `ms`. */
  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.changed.delete(done);
        resolve();
      };
      // Back-off waits come from config (restartBackoff.maxSeconds); callers loop to their deadline.
      const timer = setTimeout(done, clampTimerDelay(ms));
      this.changed.add(done);
    });
  }

  private notify(): void {
    for (const fn of [...this.changed]) fn();
  }

  /** Arms the activeDeadlineSeconds timer (at once when it ran out while the executor was down). */
  private armDeadline(): void {
    const at = deadlineAtMs(this.stored.createdAtMs, this.stored.plan.activeDeadlineSeconds);
    if (at === undefined) return;
    const enforce = (): void => {
      this.enforceDeadline().catch((err: unknown) => {
        this.log.error({ err: errorMessage(err) }, 'could not stop the pod at its deadline');
      });
    };
    this.deadlineTimer = setLongTimeout(enforce, at - Date.now()).unref();
  }

  /**
   * The deadline ran out: unless the pod already ended (or is being deleted),
   * nothing more starts and every running container is stopped with the pod's
   * grace period, as the kubelet does; the statuses then say DeadlineExceeded.
   */
  private async enforceDeadline(): Promise<void> {
    if (this.halted || this.deleting !== undefined) return;
    const live = (): PlannedContainer[] => this.stored.plan.containers.filter((c) => this.launched.includes(c.name) && !isEnded(this.records.get(c.name) ?? {}));
    if (this.deadlineExceededAtMs === undefined) {
      if (this.sequenceDone && live().length === 0) return; // the pod had ended: nothing was cut short
      this.deadlineExceededAtMs = Date.now();
      this.log.info({ activeDeadlineSeconds: this.stored.plan.activeDeadlineSeconds }, 'pod deadline exceeded; stopping its containers');
      await this.persist();
    }
    this.cancelled = true;
    this.notify();
    await this.sequence;
    for (const c of live()) {
      try {
        this.deps.tasks.kill(this.currentTaskId(c), `DeadlineExceeded: ${DEADLINE_MESSAGE}`, this.graceSeconds);
      } catch (err) {
        if (!isExecutorError(err, 'NOT_FOUND')) throw err;
        this.records.set(c.name, { lost: true, finishedAtMs: Date.now() });
      }
    }
    this.notify();
  }

  private persist(): Promise<void> {
    const stored: StoredPod = {
      ...this.stored,
      launched: [...this.launched],
      ended: { ...this.ended },
      restarts: { ...this.restarts },
      previous: { ...this.previous },
      ...(this.deadlineExceededAtMs !== undefined ? { deadlineExceededAtMs: this.deadlineExceededAtMs } : {}),
    };
    return this.deps.store.save(stored).catch((err: unknown) => {
      this.log.error({ err: errorMessage(err) }, 'could not write the pod record; a restart may report its containers as unknown');
    });
  }
}
