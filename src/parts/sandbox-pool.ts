import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { LABEL } from '../runtime/labels.js';
import { netnsPathOf, type RunningSandbox, type SandboxManager, type SandboxRequest } from './sandbox.js';

/** The role label of a pooled sandbox, idle or handed out (labels cannot change once it is made). */
export const POOLED_SANDBOX_ROLE = 'pooled-sandbox';

/** On a task's container: the pooled sandbox it joined, so a restarted executor knows whose it is. */
export const POOLED_SANDBOX_LABEL = 'titus.executor.pooled_sandbox';

export interface SandboxPoolOptions {
  /** Idle sandboxes kept ready. */
  readonly size: number;
  readonly refillConcurrency: number;
  readonly refillBackoffMs: number;
  /** A refill waits this long after a take, so it does not compete with the launch that took one. */
  readonly refillDelayMs: number;
}

interface IdleSandbox {
  readonly sandbox: RunningSandbox;
  /** Its namespace as made; a sandbox whose process is gone (an engine restart) no longer has it. */
  readonly netns: string;
}

/** How often idle sandboxes are checked to be still running. */
const PRUNE_INTERVAL_MS = 2000;

/** A new pooled sandbox: its own name, the pool's role; its hostname is no task's (each task gets its own by the hook). */
const pooledRequest = (): SandboxRequest => {
  const suffix = randomBytes(6).toString('hex');
  return { name: `titus-pool-${suffix}`, own: { [LABEL.role]: POOLED_SANDBOX_ROLE }, hostname: `pool-${suffix}` };
};

const netnsOf = (pid: number): string | undefined => {
  try {
    return readlinkSync(netnsPathOf(pid));
  } catch {
    return undefined;
  }
};

/**
 * Started pause sandboxes made ahead of demand. take() hands one out (never
 * the same twice) or nothing; each take starts a refill in the background,
 * after a short delay, so the launch that took it is not slowed by it. A
 * sandbox found dead at take (its process gone: the engine restarted) is
 * removed and the next is tried. stop() removes the idle ones; handed-out
 * ones belong to their task (PooledSandboxPart removes them at release).
 */
export class SandboxPool {
  private readonly idle: IdleSandbox[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Sandboxes to remove that the engine could not remove yet. */
  private readonly doomed = new Set<string>();
  private isStopped = false;
  private backingOff = false;
  private refillTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private failureLogged = false;
  /** Takes that got a sandbox, and takes that found the pool empty. */
  handedOut = 0;
  missed = 0;

  constructor(
    private readonly sandboxes: SandboxManager,
    private readonly options: SandboxPoolOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.refill();
    this.pruneTimer = setInterval(() => {
      this.prune();
      this.retryDiscards();
    }, PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
  }

  /** A started sandbox no task has had, or undefined when none is ready. */
  take(): RunningSandbox | undefined {
    this.prune();
    const next = this.idle.shift();
    if (next === undefined) this.missed += 1;
    else this.handedOut += 1;
    this.scheduleRefill(this.options.refillDelayMs);
    return next?.sandbox;
  }

  /**
   * Drops the idle sandboxes whose process is gone (an engine restart stops
   * every container): removed from the engine, and made again by the refill.
   * Cheap (a readlink each): called at every take and count, and on a timer.
   */
  prune(): void {
    const dead = this.idle.filter((i) => netnsOf(i.sandbox.pid) !== i.netns);
    if (dead.length === 0) return;
    for (const d of dead) this.idle.splice(this.idle.indexOf(d), 1);
    this.log.warn({ sandboxes: dead.map((d) => d.sandbox.id.slice(0, 12)) }, 'pooled sandboxes no longer running (engine restart?); removing them');
    for (const d of dead) this.discard(d.sandbox.id);
    this.scheduleRefill(0);
  }

  /**
   * Removes a sandbox; one the engine cannot remove now (it is down or
   * restarting) is tried again on the pool's timer, so none is left behind.
   */
  discard(id: string): void {
    void this.sandboxes.removeById(id).then(
      () => this.doomed.delete(id),
      () => this.doomed.add(id),
    );
  }

  private retryDiscards(): void {
    for (const id of this.doomed) this.discard(id);
  }

  /** stop() was called: nothing is made any more. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** Ready sandboxes now. */
  get ready(): number {
    this.prune();
    return this.idle.length;
  }

  get size(): number {
    return this.options.size;
  }

  /** Whether `id` is one of this pool's idle sandboxes. */
  holds(id: string): boolean {
    return this.idle.some((i) => i.sandbox.id === id);
  }

  /** No more refills; the idle sandboxes (and those being made) are removed. */
  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.refillTimer !== undefined) clearTimeout(this.refillTimer);
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    await Promise.all([...this.inFlight]);
    const idle = [...this.idle.splice(0).map((i) => i.sandbox.id), ...this.doomed];
    await Promise.all(idle.map((id) => this.sandboxes.removeById(id).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot remove an idle pooled sandbox'))));
  }

  private scheduleRefill(delayMs: number): void {
    if (this.isStopped || this.refillTimer !== undefined) return;
    if (delayMs <= 0) {
      this.refill();
      return;
    }
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, delayMs);
    this.refillTimer.unref();
  }

  private refill(): void {
    if (this.isStopped || this.backingOff) return;
    while (this.idle.length + this.inFlight.size < this.options.size && this.inFlight.size < this.options.refillConcurrency) {
      const made: Promise<void> = this.makeOne().finally(() => {
        this.inFlight.delete(made);
        this.refill();
      });
      this.inFlight.add(made);
    }
  }

  private async makeOne(): Promise<void> {
    const which = pooledRequest();
    try {
      const sandbox = await this.sandboxes.createSandbox(which, AbortSignal.timeout(60_000));
      const netns = netnsOf(sandbox.pid);
      if (this.isStopped || netns === undefined) {
        await this.sandboxes.removeById(sandbox.id).catch(() => undefined);
        return;
      }
      this.idle.push({ sandbox, netns });
      this.failureLogged = false;
    } catch (err) {
      // What may exist of it goes; launches meanwhile take today's path.
      // (By its name, which is this pool's alone: the engine takes a name where it takes an id.)
      await this.sandboxes.removeSandbox({ name: which.name, own: which.own }).catch(() => this.discard(which.name));
      if (!this.failureLogged) this.log.warn({ err: errorMessage(err), retryMs: this.options.refillBackoffMs }, 'cannot make a pooled sandbox; tasks start without one until it can');
      this.failureLogged = true;
      this.backingOff = true;
      setTimeout(() => {
        this.backingOff = false;
        this.refill();
      }, this.options.refillBackoffMs).unref();
    }
  }
}
