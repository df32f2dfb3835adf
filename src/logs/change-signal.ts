/**
 * Wakes readers that follow a task's logs when something happens to them
 * (lines appended, the task ended, the store stopping). A reader takes a
 * ticket before it reads, so a change during its read is not missed.
 */
export class ChangeSignal {
  private readonly pending = new Map<string, Set<() => void>>();

  /** A promise settled by the next change of `key`, or after `timeoutMs`, or on abort. */
  ticket(key: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const set = this.pending.get(key) ?? new Set<() => void>();
      this.pending.set(key, set);
      // unref: a reader that stopped waiting must not keep the process alive.
      const timer = setTimeout(wake, timeoutMs).unref();
      const pending = this.pending;
      function wake(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        set.delete(wake);
        if (set.size === 0 && pending.get(key) === set) pending.delete(key);
        resolve();
      }
      set.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  notify(key: string): void {
    for (const wake of [...(this.pending.get(key) ?? [])]) wake();
  }

  notifyAll(): void {
    for (const key of [...this.pending.keys()]) this.notify(key);
  }
}
