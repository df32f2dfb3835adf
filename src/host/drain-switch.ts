import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../common/atomic-file.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';

export interface DrainStatus {
  readonly draining: boolean;
  /** Why the operator drained (or undrained) the host; may be empty. */
  readonly reason: string;
  /** When the current state began; 0 when the host was never drained. */
  readonly sinceMs: number;
}

export const MAX_DRAIN_REASON_LENGTH = 1024;

const fileSchema = z
  .object({
    draining: z.boolean(),
    reason: z.string().max(MAX_DRAIN_REASON_LENGTH),
    sinceMs: z.number().int().nonnegative(),
  })
  .strict();

const NOT_DRAINING: DrainStatus = { draining: false, reason: '', sinceMs: 0 };

/**
 * The host's drain flag (the Running / DrainAndSuspend model): while on, new
 * launches are refused and running tasks carry on. Kept in
 * `<stateDir>/drain.json`, replaced atomically, so a restarted executor (or a
 * rebooted host) is still drained until an operator says otherwise.
 */
export class DrainSwitch {
  readonly file: string;
  private state: DrainStatus;

  constructor(stateDir: string, log: Logger) {
    this.file = join(stateDir, 'drain.json');
    this.state = this.load(log);
  }

  status(): DrainStatus {
    return this.state;
  }

  /**
   * Turns draining on or off. Turning it on again keeps the original `since`
   * (and the reason, unless a new one is given). Written before it takes
   * effect, so what a caller was told always survives a crash.
   */
  set(draining: boolean, reason: string, now = Date.now()): DrainStatus {
    const before = this.state;
    const next: DrainStatus =
      draining === before.draining
        ? { draining, reason: reason !== '' ? reason : before.reason, sinceMs: before.sinceMs === 0 ? now : before.sinceMs }
        : { draining, reason, sinceMs: now };
    try {
      writeFileAtomicSync(this.file, `${JSON.stringify(next)}\n`);
    } catch (err) {
      throw new ExecutorError('FAILED_PRECONDITION', `cannot write the drain state to ${this.file} (${errorMessage(err)}); it is unchanged`, { cause: err });
    }
    this.state = next;
    return next;
  }

  /** The UNAVAILABLE a launch gets while draining, naming the reason and the way back. */
  refuseIfDraining(): void {
    const s = this.state;
    if (!s.draining) return;
    const reason = s.reason !== '' ? `: ${s.reason}` : ' (no reason given)';
    throw new ExecutorError(
      'UNAVAILABLE',
      `this host is draining since ${new Date(s.sinceMs).toISOString()}${reason}; it accepts no new tasks while running ones finish. ` +
        'Launch the task on another host, or run `titus-executor drain off` (SetDrain draining=false) here to accept tasks again',
    );
  }

  /**
   * A missing file is "not draining". A file that cannot be read or trusted
   * leaves the host drained: accepting work on a host an operator meant to
   * empty is the worse mistake, and the reason says how to clear it.
   */
  private load(log: Logger): DrainStatus {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return NOT_DRAINING;
      return this.unreadable(log, errorMessage(err));
    }
    try {
      const parsed = fileSchema.safeParse(JSON.parse(text));
      if (parsed.success) {
        if (parsed.data.draining) log.warn({ reason: parsed.data.reason, since: new Date(parsed.data.sinceMs).toISOString() }, 'this host is drained: launches are refused');
        return parsed.data;
      }
      return this.unreadable(log, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    } catch (err) {
      return this.unreadable(log, errorMessage(err));
    }
  }

  private unreadable(log: Logger, why: string): DrainStatus {
    log.error({ file: this.file, err: why }, 'drain state unreadable; staying drained until `titus-executor drain off`');
    return {
      draining: true,
      reason: `the drain state in ${this.file} could not be read (${why}); run \`titus-executor drain off\` once the host may take tasks`,
      sinceMs: Date.now(),
    };
  }
}
