import { errorMessage } from '../common/errors.js';

/**
 * A task's record could not be written (the state directory is full, or
 * read-only). Whatever change the write carried must not be streamed: the
 * store is the history watchers resume from after a restart.
 */
export class RecordWriteError extends Error {
  /** The errno code (ENOSPC, EROFS, EIO…), when the failure had one. */
  readonly errno: string | undefined;

  constructor(
    readonly taskId: string,
    cause: unknown,
  ) {
    super(`cannot write the record of task ${taskId}: ${errorMessage(cause)}`, { cause });
    this.name = 'RecordWriteError';
    this.errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

export const isRecordWriteError = (err: unknown): err is RecordWriteError => err instanceof RecordWriteError;
