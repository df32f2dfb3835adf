import { isExecutorError, errorMessage } from '../common/errors.js';
import type { ContainerExit } from '../runtime/container-runtime.js';
import { isRuntimeError } from '../runtime/runtime-errors.js';
import { VolumeMountFailure } from '../volumes/nfs-mounter.js';
import type { KillRequest } from './task-record.js';
import type { ExitInfo, ReasonCode, TaskState } from './types.js';

/** How a task ended; becomes its one terminal update after cleanup. */
export interface Outcome {
  readonly state: Extract<TaskState, 'FINISHED' | 'FAILED' | 'KILLED' | 'LOST'>;
  readonly message: string;
  readonly reason: ReasonCode;
  readonly exit?: ExitInfo;
}

export const killedOutcome = (reason: string, exit?: ExitInfo): Outcome => ({
  state: 'KILLED',
  message: `task killed on behalf of the control plane${reason === '' ? '' : `: ${reason}`}`,
  reason: 'killed',
  ...(exit !== undefined ? { exit } : {}),
});

/**
 * How a killed task ends: a control-plane kill is KILLED/killed; the
 * executor's own kills say why (runtime limit: KILLED/runtimeLimitExceeded;
 * stuck while starting: FAILED/stuckInState).
 */
export const outcomeForKill = (kill: KillRequest, exit?: ExitInfo): Outcome => {
  const withExit = exit !== undefined ? { exit } : {};
  if (kill.cause === 'runtimeLimitExceeded') return { state: 'KILLED', message: kill.reason, reason: 'runtimeLimitExceeded', ...withExit };
  if (kill.cause === 'stuckInState') return { state: 'FAILED', message: kill.reason, reason: 'stuckInState', ...withExit };
  return killedOutcome(kill.reason, exit);
};

/** A task the executor cannot account for after a restart; the message says why. */
export const lostOutcome = (message: string): Outcome => ({ state: 'LOST', message, reason: 'lost' });

/**
 * The terminal state for a container that exited, in the wording of Netflix's
 * executor (control planes match on these messages).
 */
export const exitOutcome = (exit: ContainerExit, command: readonly string[] = []): Outcome => {
  const info: ExitInfo = { exitCode: exit.exitCode, oomKilled: exit.oomKilled };
  if (exit.oomKilled) {
    return { state: 'FAILED', message: `main container exited due to OOMKilled (exit code ${exit.exitCode})`, reason: 'failed', exit: info };
  }
  if (exit.exitCode === 0) {
    return { state: 'FINISHED', message: 'main container successfully finished with exit code 0', reason: 'normal', exit: info };
  }
  if (exit.exitCode === 127 && command.length > 0) {
    // The init process reports an exec failure as 127: name what could not run.
    const message = `main container exited with code 127: ${JSON.stringify(command[0])} not found or not executable (full command: ${JSON.stringify(command)})`;
    return { state: 'FAILED', message, reason: 'failed', exit: info };
  }
  return { state: 'FAILED', message: `main container exited with code ${exit.exitCode}`, reason: 'failed', exit: info };
};

/**
 * The terminal state for an error: the task's own fault is FAILED (bad image,
 * bad entrypoint, invalid request), and so is a pull the registry or engine
 * refused (FAILED/failed, in their words). An engine that went away is LOST,
 * saying so. Only a cause the executor cannot name is "probably Titus bug"
 * (Netflix's wording, which control planes match on); never a crash.
 */
export const errorOutcome = (err: unknown, containerStarted: boolean): Outcome => {
  const msg = errorMessage(err);
  if (isRuntimeError(err, 'image-not-found') || isExecutorError(err, 'INVALID_ARGUMENT')) {
    return { state: 'FAILED', message: `Error encountered before even starting the container: ${msg}`, reason: 'invalidRequest' };
  }
  if (isRuntimeError(err, 'bad-entrypoint')) {
    return { state: 'FAILED', message: `Failed to start container due to bad entrypoint: ${msg}`, reason: 'failed' };
  }
  if (err instanceof VolumeMountFailure) {
    return { state: 'FAILED', message: `Failed to mount a volume before starting the container: ${msg}`, reason: 'failed' };
  }
  if (isRuntimeError(err, 'pull-failed') || isRuntimeError(err, 'pull-denied')) {
    return { state: 'FAILED', message: `Failed to pull the image: ${msg}`, reason: 'failed' };
  }
  if (containerStarted) {
    return { state: 'LOST', message: `Lost connection to runtime driver: ${msg}`, reason: 'lost' };
  }
  if (isRuntimeError(err, 'engine-unavailable')) {
    return { state: 'LOST', message: `The container engine was unreachable before the container started: ${msg}`, reason: 'lost' };
  }
  return { state: 'LOST', message: `Error (probably Titus bug) encountered before even starting the container: ${msg}`, reason: 'lost' };
};
