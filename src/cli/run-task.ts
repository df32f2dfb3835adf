import { Option, type Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadConfig, type ExecutorConfig } from '../config/config.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { SystemdNotifier } from '../common/sd-notify.js';
import { loadExecutorProto } from '../api/proto.js';
import { parseLaunchRequest } from '../api/validate.js';
import type { LaunchTaskRequest, LaunchTaskRequest__Output } from '../proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { composeOneTaskCore } from '../compose.js';
import type { LaunchSpec, TaskState } from '../task/types.js';
import { readContainerInfoFile } from './launch.js';
import { DEFAULT_RUN_TASK_DIR, RunTaskState } from './run-task-state.js';
import { runPodTask } from './run-task-pod.js';
import { reporter } from './run-task-reporter.js';
import { DEFAULT_CONFIG } from './serve.js';

interface RunTaskOptions {
  taskId: string;
  containerInfo: string;
  /** Titus' per-task backend contract instead of --task-id/--container-info (src/cli/run-task-pod.ts). */
  runtimeDir?: string;
  format: Parameters<typeof readContainerInfoFile>[1];
  cpu?: string;
  memory?: string;
  disk?: string;
  network?: string;
  gpus?: string;
  stateFile?: string;
  runTaskDir: string | false;
  config?: string;
  dockerHost?: string;
  logLevel?: string;
}

/** The task never started: bad flags, an invalid request, or no room (e.g. GPUs). */
export const EXIT_NOT_STARTED = 2;

/** 0 only for FINISHED, so `systemctl` and shells see success exactly when the task succeeded. */
export const exitCodeFor = (state: TaskState): number => {
  if (state === 'FINISHED') return 0;
  if (state === 'KILLED') return 3;
  if (state === 'LOST') return 4;
  return 1;
};

const SUFFIX = '-run-task';

/**
 * run-task labels its containers with an executor id other than the daemon's:
 * the daemon's recovery stops containers carrying its own id that it has no
 * record of, and must never take a run-task's container for one of those.
 */
export const runTaskExecutorId = (daemonId: string): string => `${daemonId.slice(0, 63 - SUFFIX.length)}${SUFFIX}`;

const amount = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ExecutorError('INVALID_ARGUMENT', `${flag} ${v}: expected a non-negative number`);
  return n;
};

const buildRequest = (opts: RunTaskOptions): LaunchTaskRequest => {
  let container: ReturnType<typeof readContainerInfoFile>;
  try {
    container = readContainerInfoFile(opts.containerInfo, opts.format);
  } catch (err) {
    throw new ExecutorError('INVALID_ARGUMENT', `--container-info ${opts.containerInfo}: ${errorMessage(err)}`);
  }
  return {
    taskId: opts.taskId,
    ...container,
    resources: {
      cpu: amount('--cpu', opts.cpu) ?? 0,
      memoryMb: amount('--memory', opts.memory) ?? 0,
      diskMb: amount('--disk', opts.disk) ?? 0,
      networkMbps: amount('--network', opts.network) ?? 0,
      gpus: amount('--gpus', opts.gpus) ?? 0,
    },
  };
};

/**
 * The request as the daemon's LaunchTask handler would see it: encoded and
 * decoded by the same gRPC method definition, so run-task gets identical
 * validation (JSON ContainerInfo included) from parseLaunchRequest.
 */
const validate = (req: LaunchTaskRequest, config: ExecutorConfig): LaunchSpec => {
  const proto = loadExecutorProto();
  const method = proto.grpcType.titus.executor.v1.TitusExecutor.service.LaunchTask;
  let received: LaunchTaskRequest__Output;
  try {
    received = method.requestDeserialize(method.requestSerialize(req));
  } catch (err) {
    throw new ExecutorError('INVALID_ARGUMENT', `not a valid LaunchTaskRequest: ${errorMessage(err)}`);
  }
  return parseLaunchRequest(received, config.defaultResources, proto.decodeContainerInfo);
};

const loadRunTaskConfig = (opts: RunTaskOptions): ExecutorConfig => {
  const file = opts.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const config = loadConfig(file, {
    ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
    docker: { host: opts.dockerHost },
  });
  return { ...config, executorId: runTaskExecutorId(config.executorId) };
};

const runTask = async (opts: RunTaskOptions, log: Logger, config: ExecutorConfig): Promise<number> => {
  const spec = validate(buildRequest(opts), config);
  // The state file holds the request (env secrets): a directory made for it is root's alone.
  if (opts.stateFile !== undefined) mkdirSync(dirname(opts.stateFile), { recursive: true, mode: 0o700 });
  // The same GPU part as the daemon, on the same lock directory: a GPU held
  // here is one the daemon (or another run-task) cannot take.
  const tasks = await composeOneTaskCore(config, log, { network: false });
  const state = new RunTaskState({
    executorId: config.executorId,
    ...(opts.stateFile !== undefined ? { stateFile: opts.stateFile } : {}),
    ...(opts.runTaskDir !== false ? { runTaskDir: opts.runTaskDir } : {}),
    log,
  });
  const notifier = new SystemdNotifier(log);
  const report = reporter(tasks, spec, state, notifier);
  tasks.subscribe(report);
  tasks.launch(spec);
  tasks.close(); // one task per process
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal, taskId: spec.taskId }, 'killing the task');
    tasks.kill(spec.taskId, `run-task received ${signal}`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await tasks.drain();
  const final = tasks.get(spec.taskId);
  report.flush();
  await notifier.notify({});
  return exitCodeFor(final.state);
};

export const registerRunTask = (program: Command): void => {
  program
    .command('run-task')
    .description('run one task in the foreground, without a daemon; status updates are JSON lines on stdout')
    .option('--task-id <id>', 'task id (names the container); required without --runtime-dir')
    .option('--container-info <file>', 'a ContainerInfo: JSON (proto JSON mapping), raw serialized bytes, or base64; required without --runtime-dir')
    .option('--runtime-dir <dir>', "Titus' per-task contract: run the v1.Pod in DIR/pod.json, keep DIR/state.json (the pod with its status) current")
    .option('--format <f>', 'format of --container-info: auto|json|bytes|base64', 'auto')
    .addOption(new Option('--cpu <n>', 'CPUs').env('TITUS_TASK_CPU'))
    .addOption(new Option('--memory <MiB>', 'memory in MiB').env('TITUS_TASK_MEMORY_MB'))
    .addOption(new Option('--disk <MiB>', 'disk in MiB').env('TITUS_TASK_DISK_MB'))
    .addOption(new Option('--network <Mbps>', 'network bandwidth in Mbps').env('TITUS_TASK_NETWORK_MBPS'))
    .addOption(new Option('--gpus <n>', 'GPUs (locked in gpu.lockDir, shared with the daemon)').env('TITUS_TASK_GPUS'))
    .option('--state-file <file>', 'rewrite this file (atomically) with the task after every update')
    .option('--run-task-dir <dir>', 'publish the task here for the daemon to list', DEFAULT_RUN_TASK_DIR)
    .option('--no-run-task-dir', 'do not publish the task for the daemon')
    .option('--config <file>', `YAML config file (default ${DEFAULT_CONFIG} when it exists)`)
    .option('--docker-host <url>', 'Docker engine, e.g. unix:///var/run/docker.sock')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace (logs go to stderr)')
    .addHelpText(
      'after',
      '\nSIGTERM or SIGINT kills the task with its grace period.\n' +
        `Exit status: 0 FINISHED, 1 FAILED, 3 KILLED, 4 LOST, ${EXIT_NOT_STARTED} not started (invalid request, no room).\n` +
        'With --runtime-dir (as titus-executor-backend): SIGUSR1 kills too; 0 once the outcome is in state.json, 1 when pod.json cannot be read or state.json written.',
    )
    .action(async (opts: RunTaskOptions) => {
      const config = loadRunTaskConfig(opts);
      const log = createLogger(config.logLevel).child({ mode: 'run-task' });
      let code: number;
      try {
        if (opts.runtimeDir !== undefined) {
          const clash = opts.taskId !== undefined ? '--task-id' : opts.containerInfo !== undefined ? '--container-info' : opts.stateFile !== undefined ? '--state-file' : undefined;
          if (clash !== undefined) throw new ExecutorError('INVALID_ARGUMENT', `${clash} does not go with --runtime-dir (the pod in pod.json names the task; state.json is its state)`);
          code = await runPodTask({ runtimeDir: opts.runtimeDir, runTaskDir: opts.runTaskDir }, log, config);
          process.stdout.write('', () => process.exit(code));
          return;
        }
        if (opts.taskId === undefined || opts.containerInfo === undefined) {
          throw new ExecutorError('INVALID_ARGUMENT', `required option '${opts.taskId === undefined ? '--task-id <id>' : '--container-info <file>'}' not specified (or give --runtime-dir)`);
        }
        code = await runTask(opts, log, config);
      } catch (err) {
        if (!(err instanceof ExecutorError)) throw err;
        console.error(`titus-executor run-task: ${err.message}`);
        code = EXIT_NOT_STARTED;
      }
      // The task is over; open engine connections must not keep the process alive.
      process.stdout.write('', () => process.exit(code));
    });
};
