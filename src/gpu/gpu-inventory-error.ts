import { ExecutorError } from '../common/errors.js';

/** How reading the GPU inventory went wrong. */
export type GpuInventoryFailure = 'exit' | 'timeout' | 'spawn' | 'malformed';

/**
 * nvidia-smi could not tell us what GPUs this host has. It is a
 * FAILED_PRECONDITION (the host's driver is broken, not the request), so a
 * caller that only knows ExecutorError still maps it correctly.
 */
export class GpuInventoryError extends ExecutorError {
  readonly failure: GpuInventoryFailure;
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;

  constructor(
    failure: GpuInventoryFailure,
    message: string,
    details: { argv: readonly string[]; exitCode?: number; stdout?: string; stderr?: string; cause?: unknown },
  ) {
    super('FAILED_PRECONDITION', message, { cause: details.cause });
    this.name = 'GpuInventoryError';
    this.failure = failure;
    this.argv = details.argv;
    this.exitCode = details.exitCode;
    this.stdout = details.stdout ?? '';
    this.stderr = details.stderr ?? '';
  }
}
