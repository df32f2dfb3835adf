import { runCommand } from './command-runner.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

export interface NotifyState {
  /** READY=1: the unit (Type=notify) becomes active. */
  readonly ready?: boolean;
  /** STATUS=…: the line `systemctl status` shows. */
  readonly status?: string;
}

/**
 * systemd's readiness protocol for `Type=notify` units. Node cannot send
 * unix datagrams, so this runs `systemd-notify`, which by default waits until
 * the manager has read the message (so it is attributed before the helper
 * exits); the units set NotifyAccess=all because the sender is not the main
 * process. A no-op outside systemd (no NOTIFY_SOCKET). Messages are sent in
 * order; a failure is logged, never thrown: readiness is advisory.
 */
export class SystemdNotifier {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: Logger,
    private readonly socket: string | undefined = process.env['NOTIFY_SOCKET'],
  ) {}

  get enabled(): boolean {
    return this.socket !== undefined && this.socket !== '';
  }

  notify(state: NotifyState): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const args = ['systemd-notify', ...(state.ready === true ? ['--ready'] : []), ...(state.status !== undefined ? [`--status=${state.status}`] : [])];
    this.chain = this.chain.then(() =>
      runCommand(args, { timeoutMs: 10_000 }).then(
        () => undefined,
        (err: unknown) => this.log.warn({ err: errorMessage(err) }, 'could not notify systemd'),
      ),
    );
    return this.chain;
  }
}
