import { ExecutorError } from '../common/errors.js';
import type { ContainerInfo } from '../task/container-info.js';
import { splitShellWords } from './shell-words.js';

export interface Process {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

/** A single empty string clears the image's value (Docker's `--entrypoint ""`). */
const isClear = (v: readonly string[]): boolean => v.length === 1 && v[0] === '';

/**
 * What the task asked for, before the image is known: `entrypointStr` (legacy,
 * shell-split, takes precedence) or `process` with Docker semantics. Undefined
 * means "use the image's".
 */
export interface RequestedProcess {
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
}

export const requestedProcess = (info: ContainerInfo): RequestedProcess => {
  if (info.entrypointStr !== undefined && info.entrypointStr !== '') {
    return { entrypoint: splitShellWords(info.entrypointStr), cmd: [] };
  }
  const ep = info.process?.entrypoint;
  const cmd = info.process?.command;
  return {
    ...(ep !== undefined && ep.length > 0 ? { entrypoint: ep } : {}),
    ...(cmd !== undefined && cmd.length > 0 ? { cmd } : {}),
  };
};

/**
 * Merges the request with the image, as `docker run` does: an entrypoint
 * replaces the image ENTRYPOINT and drops the image CMD; a command replaces CMD;
 * `[""]` clears. Fails with a bad-entrypoint error when nothing is left to run.
 */
export const resolveProcess = (req: RequestedProcess, image: Process): Process => {
  let entrypoint = image.entrypoint;
  let cmd = image.cmd;
  if (req.entrypoint !== undefined) {
    entrypoint = isClear(req.entrypoint) ? [] : req.entrypoint;
    cmd = [];
  }
  if (req.cmd !== undefined) cmd = isClear(req.cmd) ? [] : req.cmd;
  if (entrypoint.length === 0 && cmd.length === 0) {
    throw new ExecutorError('INVALID_ARGUMENT', 'no entrypoint or command: neither the image nor the task provides one', {
      field: 'containerInfo.process',
    });
  }
  return { entrypoint, cmd };
};
