import { ExecutorError, invalidArgument } from '../common/errors.js';
import type { ContainerInfo } from './container-info.js';
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
 * Kernel bounds on a command line, checked at LaunchTask so that a process
 * that could never be exec'd is refused up front. One argument is at most
 * MAX_ARG_STRLEN (128 KiB with its NUL). argv and envp together are bounded
 * by a quarter of the stack rlimit (2 MiB at the usual 8 MiB); the
 * environment may take 1 MiB (src/task/env-limits.ts), the arguments half a
 * MiB, each counted with its NUL and its pointer, as the kernel does.
 */
export const MAX_ARG_BYTES = 128 * 1024 - 1;
export const MAX_ARGS_TOTAL_BYTES = 512 * 1024;
const POINTER_BYTES = 8;

/**
 * Refuses, as INVALID_ARGUMENT naming the field, a requested process that
 * cannot run whatever the image: an `entrypointStr` that does not split (an
 * unbalanced quote), an argument with a NUL or over the kernel's size for one
 * argument, or a command line too long in all.
 */
export const checkRequestedProcess = (info: ContainerInfo): void => {
  const fromString = info.entrypointStr !== undefined && info.entrypointStr !== '';
  const req = requestedProcess(info); // splits entrypointStr: throws on an unbalanced quote
  let total = 0;
  const lists: Array<[string, readonly string[]]> = [
    ['entrypoint', req.entrypoint ?? []],
    ['command', req.cmd ?? []],
  ];
  for (const [list, args] of lists) {
    for (const [i, arg] of args.entries()) {
      const field = fromString ? 'containerInfo.entrypointStr' : `containerInfo.process.${list}.${i}`;
      const bytes = Buffer.byteLength(arg);
      if (arg.includes('\0')) throw invalidArgument(field, `argument ${i} contains NUL`);
      if (bytes > MAX_ARG_BYTES) throw invalidArgument(field, `argument ${i} is ${bytes} bytes, over the ${MAX_ARG_BYTES}-byte limit for one argument`);
      total += bytes + 1 + POINTER_BYTES;
    }
  }
  if (total > MAX_ARGS_TOTAL_BYTES) {
    const field = fromString ? 'containerInfo.entrypointStr' : 'containerInfo.process';
    throw invalidArgument(field, `the command line adds up to ${total} bytes, over the ${MAX_ARGS_TOTAL_BYTES}-byte limit (entrypoint and command together)`);
  }
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
