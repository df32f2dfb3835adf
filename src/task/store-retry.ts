/**
 * How writes the task store refused (a full state directory) are retried:
 * soon at first, then every few seconds, for as long as it takes. Nothing is
 * given up, because giving up would mean streaming what the store does not
 * have. Logged on the first failure and every tenth after, so a full disk does
 * not flood the journal.
 */
import type { Logger } from '../common/log.js';
import { isRecordWriteError, type RecordWriteError } from './record-write-error.js';
import type { TaskStateMachine } from './task-state-machine.js';

const FIRST_DELAY_MS = 100;
export const MAX_STORE_RETRY_DELAY_MS = 5000;

export const storeRetryDelayMs = (attempt: number): number => Math.min(MAX_STORE_RETRY_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(Math.max(0, attempt - 1), 16));

export const shouldLogStoreRetry = (attempt: number): boolean => attempt === 1 || attempt % 10 === 0;

/**
 * Runs `write` until it does not throw RecordWriteError, waiting between
 * tries; stops trying when `given up` says so (the executor is stopping).
 */
export const writeUntilStored = async (write: () => void | Promise<void>, log: Logger, givenUp: () => boolean): Promise<void> => {
  for (let attempt = 1; !givenUp(); attempt++) {
    try {
      await write();
      if (attempt > 1) log.info({ attempts: attempt }, 'task record written; the task is cleaned up');
      return;
    } catch (err) {
      if (!isRecordWriteError(err)) throw err;
      if (shouldLogStoreRetry(attempt)) {
        log.error({ err: err.message, errno: err.errno, attempt }, 'cannot write the task record; its container is kept until it can be');
      }
      await new Promise((r) => setTimeout(r, storeRetryDelayMs(attempt)));
    }
  }
};

/** Publishes a task's held updates (TaskStateMachine) again, with back-off, until the store takes them all. */
export class HeldUpdatesRetry {
  private timer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly sm: TaskStateMachine,
    private readonly log: Logger,
  ) {}

  /** An update was just held: retry until none is (one retry loop at a time). */
  start(err: RecordWriteError): void {
    if (this.timer === undefined) this.schedule(err, 1);
  }

  /** Resolves once no update is held (at once when none is), or when stopped. */
  written(): Promise<void> {
    if (this.sm.heldCount === 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // Or written by the group commit (no retry needed).
      void this.sm.whenFlushed().then(resolve);
    });
  }

  /** The executor is stopping: no more tries here (the next executor starts from the store). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.release();
  }

  private schedule(err: RecordWriteError, attempt: number): void {
    if (this.stopped) return;
    if (shouldLogStoreRetry(attempt)) {
      this.log.error(
        { err: err.message, errno: err.errno, attempt, held: this.sm.heldCount, next: this.sm.intendedState },
        'cannot write the task record; its updates are held (not streamed) until it can be',
      );
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      const stillFailing = this.sm.flushHeld();
      if (stillFailing !== undefined) return this.schedule(stillFailing, attempt + 1);
      this.log.info({ attempts: attempt + 1, state: this.sm.state }, 'held task updates written and streamed');
      this.release();
    }, storeRetryDelayMs(attempt));
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
