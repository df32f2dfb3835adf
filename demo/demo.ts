/**
 * `npm run demo`: a Titus task through the executor's gRPC API, end to end.
 * Uses the host's Docker engine when one answers, otherwise starts a private
 * one; builds a busybox image locally (no internet) into a loopback registry;
 * runs `titus-executor serve`, then the CLI as a control plane would, printing
 * every state change and the task's output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/common/package-root.js';
import { DockerRuntime } from '../src/runtime/docker-runtime.js';
import { startHarness, startImageSource, type Harness, type ImageSource } from '../test/harness/index.js';

interface Engine {
  readonly host: string;
  readonly busyboxRepo: string;
  stop(): Promise<void>;
}

const say = (text: string): void => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

const reachable = async (host: string): Promise<boolean> => {
  try {
    await new DockerRuntime(host).version();
    return true;
  } catch {
    return false;
  }
};

const engineForDemo = async (): Promise<Engine> => {
  const host = process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
  if (host.startsWith('unix://') && (await reachable(host))) {
    say(`using the Docker engine at ${host}; building a busybox image into a loopback registry`);
    const source: ImageSource = await startImageSource(host.slice('unix://'.length));
    return { host, busyboxRepo: source.images.busyboxRepo, stop: () => source.stop() };
  }
  say(`no Docker engine answers at ${host}: starting a private dockerd and a loopback registry`);
  const h: Harness = await startHarness();
  console.log(`engine ${h.dockerHost}, registry ${h.registry}`);
  return { host: h.dockerHost, busyboxRepo: h.images.busyboxRepo, stop: () => h.stop() };
};

const cli = join(packageRoot(), 'bin', 'titus-executor.js');

/** Runs the CLI with its output on this terminal; resolves with its exit code. */
const runCli = (args: string[], socket: string): Promise<number> =>
  new Promise((resolve, reject) => {
    console.log(`$ titus-executor ${args.join(' ')}`);
    const child = spawn(process.execPath, [cli, '--socket', socket, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });

const waitForSocket = async (path: string, daemon: ChildProcess): Promise<void> => {
  for (let i = 0; i < 100; i++) {
    if (existsSync(path)) return;
    if (daemon.exitCode !== null) throw new Error(`the executor exited with code ${daemon.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the executor did not open ${path} within 10 s`);
};

const main = async (): Promise<void> => {
  const engine = await engineForDemo();
  const dir = mkdtempSync(join(tmpdir(), 'titus-demo-'));
  const socket = join(dir, 'executor.sock');
  let daemon: ChildProcess | undefined;
  try {
    say('starting the executor (titus-executor serve)');
    daemon = spawn(process.execPath, [cli, 'serve', '--socket', socket, '--docker-host', engine.host, '--log-level', 'warn', '--state-dir', join(dir, 'state')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitForSocket(socket, daemon);
    console.log(`listening on ${socket}`);

    say('launching a sample task and following it to the end');
    const code = await runCli(
      [
        'launch', '--wait', '--task-id', `demo-${Date.now()}`, '--image', `${engine.busyboxRepo}:latest`,
        '--cpu', '1', '--memory', '128', '--env', 'GREETING=hello from a Titus task',
        '--', 'sh', '-c', 'echo "$GREETING"; echo "running as $(hostname) with $TITUS_NUM_MEM MiB"; sleep 1; echo done',
      ],
      socket,
    );
    console.log(`(launch --wait exited with ${code})`);

    say('a task that ignores SIGTERM, killed with a 2 s grace period');
    const killId = `demo-kill-${Date.now()}`;
    await runCli(['launch', '--task-id', killId, '--image', `${engine.busyboxRepo}:latest`, '--kill-wait', '2', '--', 'sh', '-c', 'trap "" TERM; while true; do sleep 1; done'], socket);
    await runCli(['kill', '--wait', '--reason', 'demo', killId], socket);

    say('every task on this host');
    await runCli(['ps', '--all'], socket);
    if (code !== 0) process.exitCode = code;
  } finally {
    say('stopping');
    if (daemon !== undefined && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon?.once('exit', r));
    }
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
    console.log('done');
  }
};

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
