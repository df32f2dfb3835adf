import { ExecutorError } from '../common/errors.js';
import { TITUS_STATE, isTerminal, type ReasonCode, type StatusUpdate, type TaskState } from './types.js';
import type { NewUpdate } from './status-bus.js';

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

/**
 * One task's state: only legal transitions, and exactly one terminal state.
 * Each accepted transition is handed to `publish` (which numbers it) and kept
 * in the task's history.
 */
export class TaskStateMachine {
  private current: StatusUpdate;
  private readonly updates: StatusUpdate[] = [];

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

  get terminal(): boolean {
    return isTerminal(this.current.state);
  }

  canMoveTo(to: TaskState): boolean {
    return ALLOWED[this.current.state].includes(to);
  }

  transition(to: TaskState, message: string, reasonCode: ReasonCode = 'normal', extras: Extras = {}): StatusUpdate {
    if (!this.canMoveTo(to)) {
      throw new ExecutorError('INTERNAL', `task ${this.taskId}: illegal transition ${this.current.state} -> ${to}`);
    }
    // The container id and network details stay on every later update.
    const carried: Extras = {
      ...(this.current.containerId !== undefined ? { containerId: this.current.containerId } : {}),
      ...(this.current.network !== undefined ? { network: this.current.network } : {}),
    };
    return this.record(this.publish(this.build(to, message, reasonCode, { ...carried, ...extras })));
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
