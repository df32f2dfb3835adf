import type { Logger } from '../common/log.js';
import { AssumeRoleError, sessionNameFor, type RoleAssumer } from './sts-assumer.js';
import type { Clock, CredentialEvents, RoleCredentials } from './types.js';

export type CredentialAnswer =
  | { readonly kind: 'ok'; readonly credentials: RoleCredentials; readonly lastUpdatedMs: number }
  | { readonly kind: 'error'; readonly stsCode: string; readonly message: string; readonly lastUpdatedMs: number }
  | { readonly kind: 'pending' };

export interface CredentialCacheOptions {
  readonly assumer: RoleAssumer;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: CredentialEvents;
  readonly durationSeconds: number;
  readonly refreshBeforeExpiryMs: number;
  readonly retryIntervalMs: number;
  readonly firstCredentialsWaitMs: number;
}

interface Entry {
  readonly taskId: string;
  readonly roleArn: string;
  current?: { readonly credentials: RoleCredentials; readonly obtainedAtMs: number };
  lastError?: { readonly stsCode: string; readonly message: string; readonly atMs: number };
  reportedError?: string;
  inFlight?: Promise<void>;
  nextAttemptAtMs: number;
}

/** At most this many AssumeRole calls at once from the refresh loop (STS throttles). */
const REFRESH_CONCURRENCY = 8;

/**
 * Per-task role credentials, assumed once and served from memory. A refresh
 * starts well before expiry while the old credentials are still served, so a
 * task never sees a gap; a failed refresh keeps serving the old credentials
 * until they expire and is retried every `retryIntervalMs`.
 */
export class RoleCredentialCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly o: CredentialCacheOptions) {}

  /** Starts assuming the task's role (at attach) so the first request finds credentials ready. */
  track(taskId: string, roleArn: string): void {
    const existing = this.entries.get(taskId);
    if (existing?.roleArn === roleArn) return;
    const entry: Entry = { taskId, roleArn, nextAttemptAtMs: 0 };
    this.entries.set(taskId, entry);
    void this.attempt(entry);
  }

  forget(taskId: string): void {
    this.entries.delete(taskId);
  }

  trackedTaskIds(): string[] {
    return [...this.entries.keys()];
  }

  async credentialsFor(taskId: string, roleArn: string): Promise<CredentialAnswer> {
    this.track(taskId, roleArn);
    const entry = this.entries.get(taskId);
    if (entry === undefined) return { kind: 'pending' };
    if (this.usable(entry) === undefined && entry.inFlight === undefined && this.o.clock() >= entry.nextAttemptAtMs) {
      void this.attempt(entry);
    }
    if (this.usable(entry) === undefined && entry.inFlight !== undefined) {
      await waitAtMost(entry.inFlight, this.o.firstCredentialsWaitMs);
    }
    return this.answer(entry);
  }

  /** One pass of the refresh loop: renews what is due, retries what failed. */
  async refreshDue(): Promise<void> {
    const due = [...this.entries.values()].filter((e) => e.inFlight === undefined && this.isDue(e));
    for (let i = 0; i < due.length; i += REFRESH_CONCURRENCY) {
      await Promise.all(due.slice(i, i + REFRESH_CONCURRENCY).map((e) => this.attempt(e)));
    }
  }

  private answer(entry: Entry): CredentialAnswer {
    const current = this.usable(entry);
    if (current !== undefined) return { kind: 'ok', credentials: current.credentials, lastUpdatedMs: current.obtainedAtMs };
    if (entry.lastError !== undefined) return { kind: 'error', ...entry.lastError, lastUpdatedMs: entry.lastError.atMs };
    return { kind: 'pending' };
  }

  private usable(entry: Entry): Entry['current'] {
    return entry.current !== undefined && entry.current.credentials.expirationMs > this.o.clock() ? entry.current : undefined;
  }

  private isDue(entry: Entry): boolean {
    const now = this.o.clock();
    if (entry.current === undefined || entry.lastError !== undefined) return now >= entry.nextAttemptAtMs;
    const { expirationMs } = entry.current.credentials;
    const lifetime = expirationMs - entry.current.obtainedAtMs;
    // Whichever comes first: refreshBeforeExpiry left, or half the lifetime gone;
    // but never in the first quarter, so short-lived credentials do not loop.
    const lead = Math.min(Math.max(this.o.refreshBeforeExpiryMs, lifetime / 2), lifetime * 0.75);
    return now >= expirationMs - lead;
  }

  private attempt(entry: Entry): Promise<void> {
    if (entry.inFlight !== undefined) return entry.inFlight;
    const run = async (): Promise<void> => {
      try {
        const credentials = await this.o.assumer.assumeRole({
          roleArn: entry.roleArn,
          sessionName: sessionNameFor(entry.taskId),
          durationSeconds: this.o.durationSeconds,
        });
        if (this.entries.get(entry.taskId) !== entry) return;
        this.succeeded(entry, credentials);
      } catch (err) {
        if (this.entries.get(entry.taskId) !== entry) return;
        this.failed(entry, err);
      }
    };
    entry.inFlight = run().finally(() => {
      entry.inFlight = undefined;
    });
    return entry.inFlight;
  }

  private succeeded(entry: Entry, credentials: RoleCredentials): void {
    const now = this.o.clock();
    entry.current = { credentials, obtainedAtMs: now };
    entry.lastError = undefined;
    // Logged: who and until when; never the keys or the session token.
    this.o.log.info({ taskId: entry.taskId, roleArn: entry.roleArn, expiresAt: new Date(credentials.expirationMs).toISOString() }, 'assumed task role');
    if (entry.reportedError !== undefined) {
      entry.reportedError = undefined;
      this.o.events.onCredentialRecovered?.(entry.taskId, { roleArn: entry.roleArn });
    }
  }

  private failed(entry: Entry, err: unknown): void {
    const now = this.o.clock();
    const stsCode = err instanceof AssumeRoleError ? err.stsCode : 'Unknown';
    const message = err instanceof Error ? err.message : String(err);
    entry.lastError = { stsCode, message, atMs: now };
    entry.nextAttemptAtMs = now + this.o.retryIntervalMs;
    const stillServing = this.usable(entry) !== undefined;
    this.o.log.warn({ taskId: entry.taskId, roleArn: entry.roleArn, stsCode, err: message, stillServing }, 'cannot assume task role');
    if (entry.reportedError !== message) {
      entry.reportedError = message;
      this.o.events.onCredentialError?.(entry.taskId, `cannot assume IAM role ${entry.roleArn}: ${message}`, {
        roleArn: entry.roleArn,
        stsCode,
        reason: message.replace(/^AssumeRole failed: /, ''),
      });
    }
  }
}

const waitAtMost = (p: Promise<void>, ms: number): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
