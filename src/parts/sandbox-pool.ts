import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { LABEL } from '../runtime/labels.js';
import { netnsPathOf, type RunningSandbox, type SandboxManager, type SandboxRequest } from './sandbox.js';

/** The role label of a pooled sandbox, idle or handed out (labels cannot change once it is made). */
export const POOLED_SANDBOX_ROLE = 'pooled-sandbox';

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
  private stopped = false;
  private backingOff = false;
  private refillTimer: NodeJS.Timeout | undefined;
  private failureLogged = false;

  constructor(
    private readonly sandboxes: SandboxManager,
    private readonly options: SandboxPoolOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.refill();
  }

  /** A started sandbox no task has had, or undefined when none is ready. */
  take(): RunningSandbox | undefined {
    let found: RunningSandbox | undefined;
    while (found === undefined && this.idle.length > 0) {
      const next = this.idle.shift() as IdleSandbox;
      if (netnsOf(next.sandbox.pid) === next.netns) found = next.sandbox;
      else {
        this.log.warn({ sandbox: next.sandbox.id.slice(0, 12) }, 'a pooled sandbox is no longer running (engine restart?); removing it');
        void this.sandboxes.removeById(next.sandbox.id).catch(() => undefined);
      }
    }
    this.scheduleRefill(this.options.refillDelayMs);
    return found;
  }

  /** Ready sandboxes now. */
  get ready(): number {
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
    this.stopped = true;
    if (this.refillTimer !== undefined) clearTimeout(this.refillTimer);
    await Promise.all([...this.inFlight]);
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((i) => this.sandboxes.removeById(i.sandbox.id).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot remove an idle pooled sandbox'))));
  }

  private scheduleRefill(delayMs: number): void {
    if (this.stopped || this.refillTimer !== undefined) return;
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
    if (this.stopped || this.backingOff) return;
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
      if (this.stopped || netns === undefined) {
        await this.sandboxes.removeById(sandbox.id).catch(() => undefined);
        return;
      }
      this.idle.push({ sandbox, netns });
      this.failureLogged = false;
    } catch (err) {
      // What may exist of it goes; launches meanwhile take today's path.
      await this.sandboxes.removeSandbox({ name: which.name, own: which.own }).catch(() => undefined);
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
