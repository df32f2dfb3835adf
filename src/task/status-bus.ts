import type { StatusUpdate } from './types.js';

export type UpdateListener = (u: StatusUpdate) => void;
export type NewUpdate = Omit<StatusUpdate, 'sequence' | 'timestampMs'> & { readonly timestampMs?: number };

/**
 * Every status update on this host gets the next sequence number here, is kept
 * in a bounded ring for resumption, and goes to every subscriber. Listeners
 * run synchronously, so a replay taken together with a subscribe never misses
 * or repeats an update.
 */
export class StatusBus {
  private sequence: number;
  private readonly ring: Array<StatusUpdate | undefined>;
  private next = 0;
  private size = 0;
  private readonly listeners = new Set<UpdateListener>();
  /** Numbers handed out and not yet delivered or abandoned, and those of them stored and ready. */
  private readonly outstanding = new Set<number>();
  private readonly ready = new Map<number, StatusUpdate>();

  constructor(
    private readonly capacity: number,
    startSequence = 0,
  ) {
    this.sequence = startSequence;
    this.ring = new Array<StatusUpdate | undefined>(capacity);
  }

  latestSequence(): number {
    return this.sequence;
  }

  /**
   * Numbers the update, hands it to `beforeDeliver` (the durable store: an
   * update is written before anyone sees it; if that throws, nobody does),
   * then keeps and delivers it (after any update numbered before it that is
   * still being written: subscribers see sequence order).
   */
  publish(u: NewUpdate, beforeDeliver?: (u: StatusUpdate) => void): StatusUpdate {
    const update = this.reserve(u);
    try {
      beforeDeliver?.(update);
    } catch (err) {
      // Nothing was numbered in between (this is synchronous): the number is not used up.
      this.outstanding.delete(update.sequence);
      this.sequence = update.sequence - 1;
      throw err;
    }
    this.deliver(update);
    return update;
  }

  /**
   * Numbers an update that is written to the store before it is delivered
   * (a group commit): deliver() it once it is stored, or abandon() its
   * number when it could not be. Until then, later updates wait for it.
   */
  reserve(u: NewUpdate): StatusUpdate {
    const update: StatusUpdate = { ...u, sequence: this.sequence + 1, timestampMs: u.timestampMs ?? Date.now() };
    this.sequence = update.sequence;
    this.outstanding.add(update.sequence);
    return update;
  }

  /** A reserved update is stored: it is delivered as soon as every one numbered before it is. */
  deliver(update: StatusUpdate): void {
    this.ready.set(update.sequence, update);
    this.drain();
  }

  /** A reserved number that will never be delivered (its write failed): a gap, not a wait. */
  abandon(sequence: number): void {
    this.outstanding.delete(sequence);
    this.ready.delete(sequence);
    this.drain();
  }

  private drain(): void {
    for (;;) {
      let lowest: number | undefined;
      for (const n of this.outstanding) if (lowest === undefined || n < lowest) lowest = n;
      if (lowest === undefined) return;
      const update = this.ready.get(lowest);
      if (update === undefined) return;
      this.outstanding.delete(lowest);
      this.ready.delete(lowest);
      this.retain(update);
      for (const l of this.listeners) l(update);
    }
  }

  /**
   * After a restart: the stored updates, so watchers can resume across it, and
   * numbering continues above `floor` (the highest sequence ever handed out).
   */
  restore(updates: readonly StatusUpdate[], floor: number): void {
    const sorted = [...updates].sort((a, b) => a.sequence - b.sequence);
    for (const u of sorted.slice(-this.capacity)) this.retain(u);
    this.sequence = Math.max(floor, this.sequence, sorted.at(-1)?.sequence ?? 0);
  }

  private retain(update: StatusUpdate): void {
    this.ring[this.next] = update;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /**
   * Retained updates with a sequence above `after`, oldest first; undefined when
   * some of them are no longer retained (the caller must resync from a snapshot).
   */
  since(after: number): StatusUpdate[] | undefined {
    if (after >= this.sequence) return [];
    const oldest = this.oldestSequence();
    if (oldest === undefined || after + 1 < oldest) return undefined;
    const out: StatusUpdate[] = [];
    for (let i = 0; i < this.size; i++) {
      const u = this.ring[(this.next - this.size + i + this.capacity) % this.capacity];
      if (u !== undefined && u.sequence > after) out.push(u);
    }
    return out;
  }

  oldestSequence(): number | undefined {
    if (this.size === 0) return undefined;
    return this.ring[(this.next - this.size + this.capacity) % this.capacity]?.sequence;
  }

  subscribe(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
