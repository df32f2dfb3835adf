import { EventEmitter } from 'node:events';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';

/** What the monitor needs of the engine: a cheap liveness call and its event stream. */
export interface EngineProbe {
  /** Resolves when the engine answers; rejects when it cannot be reached. */
  ping(): Promise<void>;
  /**
   * Subscribes to the engine's event stream; `onEnd` is called once when the
   * stream ends or breaks (the engine went away). Returns a function that
   * closes the subscription (and does not call onEnd).
   */
  watchEvents(onEnd: (err?: Error) => void): Promise<() => void>;
}

export interface EngineMonitorOptions {
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/**
 * Knows whether the container engine is reachable, without polling it on
 * every call: an open event subscription breaks the moment dockerd stops or
 * its socket goes away. Then it reconnects with exponential back-off,
 * resubscribes, and tells whoever waits (`whenUp`) and listens (`onReconnect`)
 * so they can reconcile.
 */
export class EngineMonitor {
  private up = false;
  private everConnected = false;
  private downSinceMs: number | undefined = Date.now();
  private lastError = 'not connected yet';
  private closeEvents: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly emitter = new EventEmitter();
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly probe: EngineProbe,
    private readonly log: Logger,
    options: EngineMonitorOptions = {},
  ) {
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.emitter.setMaxListeners(0);
  }

  /** Connects once (so the first answer is known), then keeps watching in the background. */
  async start(): Promise<void> {
    if (!(await this.connect())) this.retry(this.initialBackoffMs);
  }

  isUp(): boolean {
    return this.up;
  }

  /** Why the engine is down and since when, for error messages. */
  describeOutage(): string {
    const since = this.downSinceMs === undefined ? '' : ` for ${Math.round((Date.now() - this.downSinceMs) / 1000)} s`;
    return `unreachable${since} (${this.lastError})`;
  }

  whenUp(): Promise<void> {
    if (this.up || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.emitter.once('up', resolve));
  }

  /** Called after every reconnection (not the first connection). */
  onReconnect(listener: () => void): () => void {
    this.emitter.on('reconnect', listener);
    return () => this.emitter.off('reconnect', listener);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.closeEvents?.();
    this.closeEvents = undefined;
    this.emitter.emit('up'); // nobody waits forever on a stopped monitor
  }

  private async connect(): Promise<boolean> {
    try {
      await this.probe.ping();
      this.closeEvents = await this.probe.watchEvents((err) => this.lost(err));
    } catch (err) {
      this.lastError = errorMessage(err);
      return false;
    }
    if (this.stopped) {
      this.closeEvents();
      return true;
    }
    const wasDown = this.downSinceMs ?? Date.now();
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.up = true;
    this.downSinceMs = undefined;
    if (reconnected) this.log.warn({ downForMs: Date.now() - wasDown }, 'container engine reachable again; reconciling tasks');
    this.emitter.emit('up');
    if (reconnected) this.emitter.emit('reconnect');
    return true;
  }

  private lost(err?: Error): void {
    if (this.stopped || !this.up) return;
    this.up = false;
    this.closeEvents = undefined;
    this.downSinceMs = Date.now();
    this.lastError = err === undefined ? 'its event stream ended' : errorMessage(err);
    this.log.error({ err: this.lastError }, 'container engine unreachable; launches are refused until it is back');
    this.retry(this.initialBackoffMs);
  }

  private retry(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.connect().then((ok) => {
        if (!ok) this.retry(Math.min(delayMs * 2, this.maxBackoffMs));
      });
    }, delayMs);
    this.timer.unref();
  }
}
