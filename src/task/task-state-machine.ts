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

  /** Transitions waiting for the store. */
  get heldCount(): number {
    return this.held.length;
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

  /** The update streamed, or undefined when it is held until the store takes it. */
  transition(to: TaskState, message: string, reasonCode: ReasonCode = 'normal', extras: Extras = {}): StatusUpdate | undefined {
    if (!this.canMoveTo(to)) {
      throw new ExecutorError('INTERNAL', `task ${this.taskId}: illegal transition ${this.intendedState} -> ${to}`);
    }
    const next: HeldTransition = { state: to, message, reasonCode, extras };
    if (this.held.length > 0) {
      this.hold(next);
      return undefined;
    }
    try {
      return this.publishNow(next);
    } catch (err) {
      if (!isRecordWriteError(err)) throw err;
      this.hold(next);
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
    // The container id and network details stay on every later update.
    const carried: Extras = {
      ...(this.current.containerId !== undefined ? { containerId: this.current.containerId } : {}),
      ...(this.current.network !== undefined ? { network: this.current.network } : {}),
    };
    return this.record(this.publish(this.build(next.state, next.message, next.reasonCode, { ...carried, ...next.extras })));
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
