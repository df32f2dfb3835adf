import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContainerOutputSource } from '../runtime/container-runtime.js';
import { timestampToMs } from '../runtime/output-timestamp.js';
import { isRuntimeError } from '../runtime/runtime-errors.js';
import { readResumePoint } from './resume-point.js';
import { ResumeFilter } from '../runtime/output-resume.js';
import { RotatingLogWriter, type RotationLimits } from './rotating-writer.js';
import type { LogSpaceGate } from './space-reserve.js';
import { sleepUnlessAborted } from '../common/abortable.js';

export interface CollectorDeps {
  readonly source: ContainerOutputSource;
  readonly limits: RotationLimits;
  readonly log: Logger;
  /** Called after each batch is in the file (followers read on). */
  readonly onAppended: () => void;
  /** The logs filesystem's reserve: lines are dropped (with a marker) rather than taking it. */
  readonly space?: LogSpaceGate;
}

/** Copies after an engine error (a restarted engine, a dropped connection) before giving up. */
const ATTEMPTS = 4;
const RETRY_DELAY_MS = 500;

/**
 * Copies one container's stdout and stderr into its task's log directory
 * until the container has stopped and all its output is stored, resuming
 * after the last stored line. Never throws: a log problem is logged and the
 * task goes on.
 */
export class OutputCollector {
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private readonly exited = new AbortController();

  /** `after`: the previous collector of the directory, which must have closed its files first. */
  constructor(
    readonly containerId: string,
    private readonly dir: string,
    private readonly deps: CollectorDeps,
    after: Promise<void> = Promise.resolve(),
  ) {
    this.done = after.then(() => this.run()).catch((err: unknown) => {
      this.deps.log.warn({ containerId, err: errorMessage(err) }, 'task output is no longer stored');
    });
  }

  /** Stops copying (the executor is stopping, or the container is about to be removed). */
  stop(): void {
    this.abort.abort();
  }

  /** The container has exited: what is left of its output is read at once, and the copy ends. */
  containerExited(): void {
    this.exited.abort();
  }

  private async run(): Promise<void> {
    if (this.abort.signal.aborted) return;
    const writer = await RotatingLogWriter.open(this.dir, this.deps.limits);
    try {
      const filter = new ResumeFilter(await readResumePoint(this.dir));
      for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
        try {
          await this.copy(writer, filter);
          return;
        } catch (err) {
          if (this.abort.signal.aborted) return;
          if (isRuntimeError(err, 'not-found')) {
            this.deps.log.warn({ containerId: this.containerId }, 'the container is gone; its output is stored up to here');
            return;
          }
          if (attempt >= ATTEMPTS) throw err;
          this.deps.log.warn({ containerId: this.containerId, attempt, err: errorMessage(err) }, 'copying task output failed; resuming');
          await sleepUnlessAborted(RETRY_DELAY_MS * attempt, this.abort.signal);
        }
      }
    } finally {
      await writer.close();
    }
  }

  private async copy(writer: RotatingLogWriter, filter: ResumeFilter): Promise<void> {
    filter.restart();
    const from = filter.point();
    const output = this.deps.source.followOutput(this.containerId, {
      ...(from !== undefined ? { sinceMs: timestampToMs(from.timestamp) } : {}),
      signal: this.abort.signal,
      exited: this.exited.signal,
    });
    for await (const batch of output) {
      const fresh = filter.fresh(batch);
      const lines = this.deps.space === undefined || fresh.length === 0 ? fresh : await this.deps.space.admit(fresh);
      if (lines.length === 0) continue;
      await writer.append(lines);
      this.deps.onAppended();
    }
  }
}

