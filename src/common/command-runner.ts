import { execFile } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly input?: string;
  /** Resolve instead of throwing on a non-zero exit. */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/** A command that failed, timed out or could not be started; says which and why. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly reason: 'exit' | 'timeout' | 'spawn',
    readonly code: number | null,
    readonly stderr: string,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/**
 * Runs a program with an argv (never a shell string), with a timeout. The only
 * place in src/ that starts child processes for host tools.
 */
export const runCommand = (argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> => {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('runCommand: empty argv'));
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, signal: options.signal, env: options.env },
      (err, stdout, stderr) => {
        if (err === null) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
        const cmd = argv.join(' ');
        if (typeof e.code === 'string') {
          return reject(new CommandError(argv, 'spawn', null, stderr, `cannot run ${file}: ${e.code}`));
        }
        if (e.killed === true || e.signal === 'SIGKILL') {
          return reject(new CommandError(argv, 'timeout', null, stderr, `${cmd} did not finish within ${timeoutMs} ms`));
        }
        const code = typeof e.code === 'number' ? e.code : 1;
        if (options.allowFailure === true) return resolve({ code, stdout, stderr });
        reject(new CommandError(argv, 'exit', code, stderr, `${cmd} exited with code ${code}: ${stderr.trim()}`));
      },
    );
    if (options.input !== undefined) {
      // A command that exits before reading all its input (it failed, or needs none) closes the pipe:
      // its exit status says what happened, so the write's EPIPE is not an error of its own.
      child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') reject(new CommandError(argv, 'spawn', null, '', `cannot write the input of ${file}: ${err.message}`));
      });
      child.stdin?.end(options.input);
    }
  });
};
