/**
 * `titus-executor serve` as a real child process (the built CLI; `npm test`
 * builds first), for tests that crash and restart the executor. Writes the
 * config as YAML; every daemon started is SIGKILLed at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createClient } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'bin', 'titus-executor.js');

/** Why a test needing the built CLI is skipped, or false when it can run. */
export const needsBuild = (): string | false => (existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) ? false : 'needs `npm run build` (npm test builds first)');

export interface ServeDaemon {
  readonly child: ChildProcess;
  readonly client: TitusExecutorClient;
  /** SIGKILL, as a crash would: containers and host state stay as they are. */
  crash(): Promise<void>;
}

export interface ServeProcesses {
  readonly socket: string;
  readonly configPath: string;
  start(): Promise<ServeDaemon>;
}

export const serveProcesses = (
  t: { teardown(fn: () => unknown): void },
  dir: string,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  /** Run through this command first (it must exec its arguments), e.g. to start the daemon in a mount namespace of its own. */
  commandPrefix: readonly string[] = [],
): ServeProcesses => {
  const socket = join(dir, 'executor.sock');
  const configPath = join(dir, 'config.yaml');
  const api = (config['api'] as Record<string, unknown> | undefined) ?? {};
  // No warm pool unless a test asks for one (its sandboxes are containers other tests would count).
  const base = { logLevel: 'warn', metrics: { listen: null }, stateDir: join(dir, 'state'), runTaskDir: join(dir, 'run-task'), sandboxPool: { size: 0 } };
  // Room for the many default-sized tasks tests run side by side on a small machine (as startTestExecutor gives).
  const host = { cpu: 1024, memoryMb: 16 * 1024 * 1024, diskMb: 1024 * 1024 * 1024, networkMbps: 1_000_000, ...((config['host'] as object | undefined) ?? {}) };
  // Volume mounts of its own: recovery unmounts what it finds there that is not its tasks'.
  const volumes = { mountDir: join(dir, 'volumes'), ...((config['volumes'] as object | undefined) ?? {}) };
  writeFileSync(configPath, stringify({ ...base, ...config, host, volumes, api: { ...api, socketPath: socket } }));
  const children: ChildProcess[] = [];
  t.teardown(() => children.forEach((c) => c.kill('SIGKILL')));
  return {
    socket,
    configPath,
    start: async () => {
      rmSync(socket, { force: true });
      const argv = [...commandPrefix, process.execPath, cli, 'serve', '--config', configPath];
      const child = spawn(argv[0] ?? process.execPath, argv.slice(1), { env: { ...process.env, ...env }, stdio: 'inherit' });
      children.push(child);
      for (let i = 0; i < 150 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
      if (!existsSync(socket)) throw new Error(`titus-executor serve did not open ${socket} within 15 s`);
      const client = createClient({ socket });
      return {
        child,
        client,
        crash: async () => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
          client.close();
        },
      };
    },
  };
};
