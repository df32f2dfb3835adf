/**
 * Runs the built command line (bin/titus-executor.js, as an operator would)
 * and collects what it printed. `npm test` builds first.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'bin', 'titus-executor.js');

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** When the process exited (for tests of how long a follow lasts). */
  readonly endedAtMs: number;
}

/** Why a CLI test must be skipped (the built module is missing), or false. */
export const cliNotBuilt = (module = 'main'): string | false =>
  existsSync(join(root, 'dist', 'src', 'cli', `${module}.js`)) ? false : 'needs `npm run build` (npm test builds first)';

export const runCli = (args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr, endedAtMs: Date.now() }));
  });
