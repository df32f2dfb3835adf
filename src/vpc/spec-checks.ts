import { stat } from 'node:fs/promises';
import { ExecutorError } from '../common/errors.js';
import type { NetworkSpec } from './types.js';

/** Checks every driver makes before touching anything. */
export const validateSpec = (spec: NetworkSpec): void => {
  if (spec.taskId.length === 0) throw new ExecutorError('INVALID_ARGUMENT', 'taskId must not be empty', { field: 'taskId' });
  if (!Number.isFinite(spec.bandwidthMbps) || spec.bandwidthMbps < 0) {
    throw new ExecutorError('INVALID_ARGUMENT', `bandwidthMbps must be 0 (unlimited) or positive, not ${spec.bandwidthMbps}`, {
      field: 'bandwidthMbps',
    });
  }
};

/** The sandbox's namespace file must exist: a missing one is the runtime's ordering problem, not the request's. */
export const assertNetnsExists = async (netnsPath: string): Promise<void> => {
  try {
    await stat(netnsPath);
  } catch (err) {
    throw new ExecutorError('FAILED_PRECONDITION', `task network namespace ${netnsPath} does not exist`, { cause: err });
  }
};
