/**
 * The task store's group commit. Every status update is stored before it is
 * streamed; written one by one on the event loop (write, fsync, rename, fsync
 * the directory), 110 launches at once spent most of their time waiting on
 * each other's fsyncs (13 of 35 s of the executor's time in one profiled
 * burst), and every engine answer waited behind them. Here the updates that
 * pile up while one batch is written are numbered and written together, off
 * the event loop (TaskStore.saveMany: one record per task, however many of
 * its updates it carries, one directory fsync per batch), then streamed in
 * sequence order. A refused write leaves the task's updates held, unstreamed,
 * for HeldUpdatesRetry, as a refused write on the spot does.
 */
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { StatusBus } from './status-bus.js';
import type { TaskRecord } from './task-record.js';
import type { TaskStateMachine } from './task-state-machine.js';
import type { TaskStore } from './task-store.js';
import type { StatusUpdate } from './types.js';

/** A task the group commit writes for: its state machine, and its record with some updates added. */
export interface CommitSubject {
  readonly sm: TaskStateMachine;
  /** The task's record with `updates` as its latest; undefined when nothing may be written for it any more (abandoned). */
  recordWith(updates: readonly StatusUpdate[]): TaskRecord | undefined;
}

export class GroupCommit {
  private readonly queued = new Set<CommitSubject>();
  private running = false;

  constructor(
    private readonly bus: StatusBus,
    private readonly store: TaskStore,
    private readonly log: Logger,
  ) {}

  /** The subject has held updates: they go in the next batch (the one after the batch being written, if any). */
  request(subject: CommitSubject): void {
    this.queued.add(subject);
    if (this.running) return;
    this.running = true;
    setImmediate(() => {
      this.run().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'group commit of task records failed'));
    });
  }

  private async run(): Promise<void> {
    try {
      while (this.queued.size > 0) await this.writeBatch();
    } finally {
      this.running = false;
      // A request made while the last batch was settling.
      if (this.queued.size > 0) this.request([...this.queued][0] as CommitSubject);
    }
  }

  private async writeBatch(): Promise<void> {
    const batch: Array<{ subject: CommitSubject; updates: readonly StatusUpdate[]; record: TaskRecord }> = [];
    for (const subject of this.queued) {
      this.queued.delete(subject);
      const updates = subject.sm.stage((u) => this.bus.reserve(u));
      if (updates.length === 0) continue;
      const record = subject.recordWith(updates);
      if (record === undefined) {
        for (const u of updates) this.bus.abandon(u.sequence);
        subject.sm.unstage(undefined);
        continue;
      }
      batch.push({ subject, updates, record });
    }
    if (batch.length === 0) return;
    const results = await this.store.saveMany(batch.map((b) => b.record));
    for (const [i, { subject, updates }] of batch.entries()) {
      const err = results[i];
      if (err === undefined) {
        subject.sm.commitStaged();
        for (const u of updates) this.bus.deliver(u);
      } else {
        for (const u of updates) this.bus.abandon(u.sequence);
        subject.sm.unstage(err);
      }
      if (subject.sm.wantsCommit) this.queued.add(subject);
    }
  }
}
