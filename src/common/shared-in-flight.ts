/**
 * Callers asking the same question while it is being answered share the one
 * answer (or error) instead of each asking again: 110 launches of one image
 * make one image inspect, not 110. Nothing is kept once the answer is in, so
 * a later caller always gets a fresh one.
 */
export class SharedInFlight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  run(key: string, ask: () => Promise<T>): Promise<T> {
    const open = this.pending.get(key);
    if (open !== undefined) return open;
    const answer = ask().finally(() => this.pending.delete(key));
    this.pending.set(key, answer);
    return answer;
  }

  /** Questions being answered now (tests, diagnostics). */
  get size(): number {
    return this.pending.size;
  }
}
