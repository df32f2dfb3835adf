/**
 * The executor under test, run as its own process with the real `serve`
 * command, so its memory can be read from /proc and its event loop does not
 * share a CPU budget with the bench's client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import { call, createClient } from '../src/cli/client.js';
import { configSchema } from '../src/config/config.js';
import type { TitusExecutorClient } from '../src/proto/generated/titus/executor/v1/TitusExecutor.js';

export interface ExecutorProcess {
  readonly pid: number;
  readonly socket: string;
  readonly executorId: string;
  readonly logPath: string;
  readonly client: TitusExecutorClient;
  /** Resident set size of the executor process, in MiB, from /proc/<pid>/status. */
  rssMiB(): number;
  /** Peak resident set size since the process started (VmHWM), in MiB. */
  peakRssMiB(): number;
  /** CPU time (user + system) the executor process has used so far, in ms; 10 ms resolution. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/** dist/bench/executor-process.js → dist/src/cli/main.js */
const cliMain = (): string => resolve(fileURLToPath(new URL('.', import.meta.url)), '..', 'src', 'cli', 'main.js');

/** A /proc/<pid>/status memory field (reported in kB), in MiB. */
const readStatusMiB = (pid: number, field: 'VmRSS' | 'VmHWM'): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1];
  if (kb === undefined) throw new Error(`no ${field} for pid ${pid} (has it exited?)`);
  return Number(kb) / 1024;
};

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** utime and stime are fields 14 and 15; the command name (field 2) may hold spaces, so count from its closing paren. */
export const readCpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS;
};

const waitUntilServing = async (client: TitusExecutorClient, child: ChildProcess, logPath: string): Promise<void> => {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`executor exited during start-up:\n${readFileSync(logPath, 'utf8').slice(-4000)}`);
    }
    const served = await call(client.GetHostResources.bind(client), {}).then(
      () => true,
      () => false,
    );
    if (served) return;
    if (Date.now() > deadline) throw new Error(`executor not serving after ${READY_TIMEOUT_MS} ms; log: ${logPath}`);
    await sleep(100);
  }
};

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
};

/**
 * Once the config has a metrics endpoint, an ephemeral port for it: a bench
 * and a test (or two benches) must be able to run side by side.
 */
const metricsConfig = (): Record<string, unknown> => ('metrics' in configSchema.shape ? { metrics: { listen: '127.0.0.1:0' } } : {});

/**
 * Starts `titus-executor serve` against `dockerHost`, with its config, socket
 * and log in `workDir`; `extraConfig` adds config sections (the networked
 * executor's `network`).
 */
export const startExecutorProcess = async (
  workDir: string,
  dockerHost: string,
  executorId: string,
  extraConfig: Record<string, unknown> = {},
): Promise<ExecutorProcess> => {
  const socket = join(workDir, 'executor.sock');
  const configPath = join(workDir, 'config.yaml');
  const logPath = join(workDir, 'executor.log');
  // The production default log level, so logging cost is part of what is measured.
  const config = {
    executorId,
    logLevel: 'info',
    api: { socketPath: socket },
    docker: { host: dockerHost },
    // Its own state (task records, drain flag), not the host's /var/lib/titus-executor.
    stateDir: join(workDir, 'state'),
    // The bench measures launch overhead, not admission: room for 100 one-CPU tasks on a 2-CPU machine.
    host: { cpu: 1024, memoryMb: 1024 * 1024, diskMb: 1024 * 1024 * 1024, networkMbps: 1_000_000 },
    ...metricsConfig(),
    ...extraConfig,
  };
  writeFileSync(configPath, toYaml(config));
  const logFd = openSync(logPath, 'a');
  const child = spawn(process.execPath, [cliMain(), 'serve', '--config', configPath], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.on('error', () => undefined); // surfaces as an early exit in waitUntilServing
  const pid = child.pid;
  const client = createClient({ socket });
  try {
    if (pid === undefined) throw new Error('could not spawn the executor');
    await waitUntilServing(client, child, logPath);
  } catch (err) {
    client.close();
    await stopChild(child);
    throw err;
  }
  return {
    pid,
    socket,
    executorId,
    logPath,
    client,
    rssMiB: () => readStatusMiB(pid, 'VmRSS'),
    peakRssMiB: () => readStatusMiB(pid, 'VmHWM'),
    cpuMs: () => readCpuMs(pid),
    stop: async () => {
      client.close();
      await stopChild(child);
    },
  };
};
