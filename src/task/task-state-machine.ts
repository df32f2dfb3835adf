import { ExecutorError } from '../common/errors.js';
import { TITUS_STATE, isTerminal, type ReasonCode, type StatusUpdate, type TaskState } from './types.js';
import type { NewUpdate } from './status-bus.js';
import { isRecordWriteError, type RecordWriteError } from './record-write-error.js';

const ALLOWED: Readonly<Record<TaskState, readonly TaskState[]>> = {
  ACCEPTED: ['STARTING', 'KILL_INITIATED', 'FINISHED', 'FAILED', 'KILLED', 'LOST'],
  STARTING: ['STARTING', 'RUNNING', 'KILL_INITIATED', 'FINISHED', 'FAILED', 'KILLED', 'LOST'],
  RUNNING: ['RUNNING', 'KILL_INITIATED', 'FINISHED', 'FAILED', 'KILLED', 'LOST'],
  KILL_INITIATED: ['FINISHED', 'FAILED', 'KILLED', 'LOST'],
  FINISHED: [],
  FAILED: [],
  KILLED: [],
  LOST: [],
};

/** The first update of a task that is not a plain launch (a record found corrupt after a restart). */
export interface FirstUpdate {
  readonly state: TaskState;
  readonly message: string;
  readonly reasonCode: ReasonCode;
}

const isHistory = (s: readonly StatusUpdate[] | FirstUpdate): s is readonly StatusUpdate[] => Array.isArray(s);

export type Extras = Partial<Pick<StatusUpdate, 'containerId' | 'exit' | 'pull' | 'network'>>;

/** A transition decided but not yet written to the store, so not yet streamed either. */
interface HeldTransition {
  readonly state: TaskState;
  readonly message: string;
  readonly reasonCode: ReasonCode;
  readonly extras: Extras;
}

/** The container id and network details stay on every later update. */
const carriedFrom = (u: StatusUpdate): Extras => ({
  ...(u.containerId !== undefined ? { containerId: u.containerId } : {}),
  ...(u.network !== undefined ? { network: u.network } : {}),
});

/** States that may follow themselves: a held one is replaced by the next (pull progress), not queued. */
const REPEATABLE: ReadonlySet<TaskState> = new Set(['STARTING', 'RUNNING']);

/**
 * One task's state: only legal transitions, and exactly one terminal state.
 * Each accepted transition is handed to `publish` (which numbers it, writes it
 * to the store, then streams it) and kept in the task's history.
 *
 * When the store cannot take it (RecordWriteError), the transition is held,
 * in order with any that follow, and nothing of it is streamed or numbered;
 * `flushHeld()` tries again. What watchers and GetTask see is only ever what
 * the store has.
 */
export class TaskStateMachine {
  private current: StatusUpdate;
  private readonly updates: StatusUpdate[] = [];
  private readonly held: HeldTransition[] = [];
  private heldListener: ((err: RecordWriteError) => void) | undefined;
  /** Group commit (deferTo): asks for the held transitions to be written with other tasks'. */
  private requestCommit: (() => void) | undefined;
  /** Updates numbered from the first held transitions, being written now. */
  private staged: StatusUpdate[] | undefined;
  /** A write failed: the held transitions wait for HeldUpdatesRetry (flushHeld), not the group commit. */
  private retrying = false;
  private idleWaiters: Array<() => void> = [];

  /**
   * A new task starts ACCEPTED (published); a task read back from the store
   * after a restart continues from its stored history (nothing published).
   */
  constructor(
    readonly taskId: string,
    private readonly publish: (u: NewUpdate) => StatusUpdate,
    start: readonly StatusUpdate[] | FirstUpdate = { state: 'ACCEPTED', message: 'accepted', reasonCode: 'normal' },
    private readonly maxHistory = 500,
  ) {
    if (isHistory(start) && start.length > 0) {
      this.updates.push(...start);
      this.current = start[start.length - 1] as StatusUpdate;
    } else {
      const first = isHistory(start) ? { state: 'ACCEPTED' as const, message: 'accepted', reasonCode: 'normal' as const } : start;
      this.current = this.record(this.publish(this.build(first.state, first.message, first.reasonCode, {})));
    }
  }

  get state(): TaskState {
    return this.current.state;
  }

  get last(): StatusUpdate {
    return this.current;
  }

  get history(): readonly StatusUpdate[] {
    return this.updates;
  }

  /** The state streamed (and stored) last; a held terminal transition does not count yet. */
  get terminal(): boolean {
    return isTerminal(this.current.state);
  }

  /** Transitions waiting for the store (being written, or refused by it). */
  get heldCount(): number {
    return this.held.length;
  }

  /** Transitions the store refused and that wait for a retry (not those merely being written). */
  get refusedCount(): number {
    return this.retrying ? this.held.length : 0;
  }

  /**
   * From here on a transition is not written on the spot: it is held and
   * `request` is called, and a group commit (GroupCommit) writes it together
   * with other tasks' off the event loop, then streams it (stage, commitStaged).
   */
  deferTo(request: () => void): void {
    this.requestCommit = request;
  }

  /** Whether the group commit should take this task now. */
  get wantsCommit(): boolean {
    return this.requestCommit !== undefined && !this.retrying && this.staged === undefined && this.held.length > 0;
  }

  /** Numbers every held transition (through `reserve`) for one write; nothing is recorded yet. */
  stage(reserve: (u: NewUpdate) => StatusUpdate): readonly StatusUpdate[] {
    if (!this.wantsCommit) return [];
    const out: StatusUpdate[] = [];
    let previous = this.current;
    for (const next of this.held) {
      const u = reserve(this.build(next.state, next.message, next.reasonCode, { ...carriedFrom(previous), ...next.extras }));
      out.push(u);
      previous = u;
    }
    this.staged = out;
    return out;
  }

  /** The staged updates are stored: they become the task's history (the caller streams them). */
  commitStaged(): void {
    const staged = this.staged ?? [];
    this.staged = undefined;
    this.held.splice(0, staged.length);
    for (const u of staged) this.record(u);
    this.wakeIdle();
  }

  /** The staged write failed (`err`), or is dropped (undefined: the executor is stopping); the transitions stay held. */
  unstage(err: RecordWriteError | undefined): void {
    this.staged = undefined;
    if (err === undefined) return this.wakeIdle();
    this.retrying = true;
    this.wakeIdle();
    this.heldListener?.(err);
  }

  /**
   * Resolves when no write of this task is in flight and none is queued
   * (every held transition is stored and streamed, or waits for a retry):
   * a record written on the spot then cannot be overtaken by an older one.
   */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves once nothing is held any more. */
  async whenFlushed(): Promise<void> {
    while (this.held.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.staged === undefined && (this.held.length === 0 || this.retrying || this.requestCommit === undefined);
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** The state the task is moving to: the last held transition's, else the current one. */
  get intendedState(): TaskState {
    return this.held.at(-1)?.state ?? this.current.state;
  }

  /** Whether `to` may follow, held transitions included. */
  canMoveTo(to: TaskState): boolean {
    return ALLOWED[this.intendedState].includes(to);
  }

  /** Called each time a transition is held because its write failed (the caller retries with flushHeld). */
  onHeld(listener: (err: RecordWriteError) => void): void {
    this.heldListener = listener;
  }

  /**
   * The update streamed, or undefined when it is held until the store takes
   * it (or, under a group commit, until the next one writes it; `now` writes
   * it on the spot when nothing is held, for an answer that must show it).
   */
  transition(to: TaskState, message: string, reasonCode: ReasonCode = 'normal', extras: Extras = {}, options: { now?: boolean } = {}): StatusUpdate | undefined {
    if (!this.canMoveTo(to)) {
      throw new ExecutorError('INTERNAL', `task ${this.taskId}: illegal transition ${this.intendedState} -> ${to}`);
    }
    const next: HeldTransition = { state: to, message, reasonCode, extras };
    if (this.requestCommit !== undefined && !this.retrying && (this.held.length > 0 || options.now !== true)) {
      // Every update is streamed, none replaced by the next: only a refused write holds (and folds) them.
      this.held.push(next);
      this.requestCommit();
      return undefined;
    }
    if (this.held.length > 0) {
      this.hold(next);
      return undefined;
    }
    try {
      return this.publishNow(next);
    } catch (err) {
      if (!isRecordWriteError(err)) throw err;
      this.hold(next);
      this.retrying = true;
      this.heldListener?.(err);
      return undefined;
    }
  }

  /**
   * Publishes the held transitions, in order, as far as the store takes them.
   * Returns the write error that stopped it, or undefined when none is left.
   */
  flushHeld(): RecordWriteError | undefined {
    while (this.held.length > 0) {
      try {
        this.publishNow(this.held[0] as HeldTransition);
      } catch (err) {
        if (!isRecordWriteError(err)) throw err;
        return err;
      }
      this.held.shift();
    }
    this.retrying = false;
    this.wakeIdle();
    return undefined;
  }

  private hold(next: HeldTransition): void {
    const last = this.held.at(-1);
    if (last !== undefined && last.state === next.state && REPEATABLE.has(next.state)) {
      // What would have been carried over from the replaced one (container id, network) is kept.
      const { containerId, network } = last.extras;
      const carried: Extras = { ...(containerId !== undefined ? { containerId } : {}), ...(network !== undefined ? { network } : {}) };
      this.held[this.held.length - 1] = { ...next, extras: { ...carried, ...next.extras } };
      return;
    }
    this.held.push(next);
  }

  private publishNow(next: HeldTransition): StatusUpdate {
    return this.record(this.publish(this.build(next.state, next.message, next.reasonCode, { ...carriedFrom(this.current), ...next.extras })));
  }

  private build(state: TaskState, message: string, reasonCode: ReasonCode, extras: Extras): NewUpdate {
    return { taskId: this.taskId, state, message, titusState: TITUS_STATE[state], reasonCode, ...extras };
  }

  private record(u: StatusUpdate): StatusUpdate {
    this.current = u;
    // Pull progress can produce many updates; keep the history bounded but
    // always keep the first (ACCEPTED) entry.
    if (this.updates.length >= this.maxHistory) this.updates.splice(1, 1);
    this.updates.push(u);
    return u;
  }
}
