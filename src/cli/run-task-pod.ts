import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutorConfig } from '../config/config.js';
import { writeFileAtomicSync } from '../common/atomic-file.js';
import { ExecutorError, errorMessage, isExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { SystemdNotifier } from '../common/sd-notify.js';
import { loadExecutorProto } from '../api/proto.js';
import { wireCheckedDecoder } from '../api/validate.js';
import { composeOneTaskCore } from '../compose.js';
import { parsePodLaunch } from '../task/titus-pod/parse-pod-launch.js';
import { podWithStatus, refusedPod, type PodDocument } from '../task/titus-pod/pod-status.js';
import type { TaskView } from '../task/types.js';
import { RunTaskState, type RunTaskStateOptions } from './run-task-state.js';
import { reporter } from './run-task-reporter.js';

/** The files of Titus' per-task backend contract, in `--runtime-dir`. */
export const POD_FILE = 'pod.json';
export const STATE_FILE = 'state.json';

/**
 * Exit status as titus-executor-backend's: 0 once the task's end (or the
 * pod's refusal) is in state.json, whatever the task's outcome; 1 when the
 * backend could not do its part (no readable pod.json, state.json not written).
 */
export const EXIT_POD_DONE = 0;
export const EXIT_POD_BROKEN = 1;

/** state.json: the pod with its status, rewritten atomically (0600 in the 0700 runtime dir) when it changes. */
export class PodStateFile {
  private last = '';
  /** Set once a write failed: the run ends with EXIT_POD_BROKEN. */
  failure: string | undefined;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  write(document: Record<string, unknown>): void {
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (text === this.last) return;
    try {
      writeFileAtomicSync(join(this.dir, STATE_FILE), text, 0o600);
      this.last = text;
    } catch (err) {
      this.failure ??= errorMessage(err);
      this.log.error({ dir: this.dir, err: errorMessage(err) }, 'cannot write state.json');
    }
  }
}

/** The run-task state (for the daemon's ps) plus state.json after every update. */
class PodRunTaskState extends RunTaskState {
  constructor(
    opts: RunTaskStateOptions,
    private readonly pod: PodDocument,
    private readonly stateFile: PodStateFile,
    private readonly onWriteFailure: () => void,
  ) {
    super(opts);
  }

  override write(view: TaskView): void {
    super.write(view);
    this.stateFile.write(podWithStatus(this.pod, view));
    if (this.stateFile.failure !== undefined) this.onWriteFailure();
  }
}

const readPodFile = (dir: string): PodDocument => {
  const file = join(dir, POD_FILE);
  const text = readFileSync(file, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${errorMessage(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${file} is not a JSON object (a v1.Pod)`);
  return doc as PodDocument;
};

/** A refusal as the control plane reads it: invalid pods failed, a host without room lost. */
const refusal = (pod: PodDocument, err: ExecutorError): Record<string, unknown> =>
  refusedPod(pod, `Error encountered before even starting the container: ${err.message}`, Date.now(), err.code === 'INVALID_ARGUMENT' ? 'TASK_FAILED' : 'TASK_LOST');

export interface PodRunOptions {
  readonly runtimeDir: string;
  readonly runTaskDir: string | false;
}

/** `run-task --runtime-dir DIR`: Titus' per-task backend contract (DIR/pod.json in, DIR/state.json out). */
export const runPodTask = async (opts: PodRunOptions, log: Logger, config: ExecutorConfig): Promise<number> => {
  const dir = opts.runtimeDir;
  let pod: PodDocument;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The task's files are private: the pod carries its env, state.json its status.
    chmodSync(dir, 0o700);
    pod = readPodFile(dir);
  } catch (err) {
    console.error(`titus-executor run-task: ${errorMessage(err)}`);
    return EXIT_POD_BROKEN;
  }
  const stateFile = new PodStateFile(dir, log);
  const proto = loadExecutorProto();
  let spec;
  try {
    spec = parsePodLaunch(JSON.stringify(pod), { defaults: config.defaultResources, decodeContainerInfo: wireCheckedDecoder(proto.decodeContainerInfo), registry: config.docker.registry }).spec;
  } catch (err) {
    if (!isExecutorError(err)) throw err;
    log.warn({ err: err.message }, 'pod refused');
    stateFile.write(refusal(pod, err));
    return stateFile.failure === undefined ? EXIT_POD_DONE : EXIT_POD_BROKEN;
  }
  // The daemon's GPU part on the same lock directory, and its network part when the config has a driver.
  const tasks = await composeOneTaskCore(config, log, { network: true });
  const kill = (why: string): void => {
    try {
      tasks.kill(spec.taskId, why);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'kill failed');
    }
  };
  const state = new PodRunTaskState(
    { executorId: config.executorId, ...(opts.runTaskDir !== false ? { runTaskDir: opts.runTaskDir } : {}), log },
    pod,
    stateFile,
    // titus-executor's backend gave up when it could not write the pod's state; this one stops the task first.
    () => kill('titus-executor could not write state.json'),
  );
  const notifier = new SystemdNotifier(log);
  const report = reporter(tasks, spec, state, notifier);
  tasks.subscribe(report);
  try {
    tasks.launch(spec);
  } catch (err) {
    if (!isExecutorError(err)) throw err;
    log.warn({ err: err.message }, 'pod refused');
    stateFile.write(refusal(pod, err));
    await notifier.notify({ ready: true, status: `pod ${spec.taskId} refused: ${err.message}`.slice(0, 200) });
    return stateFile.failure === undefined ? EXIT_POD_DONE : EXIT_POD_BROKEN;
  }
  tasks.close(); // one task per process
  // As titus-executor-backend: SIGINT (systemd's stop), SIGTERM and SIGUSR1 kill the task with its grace period.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGUSR1'] as const) {
    process.on(signal, () => {
      log.info({ signal, taskId: spec.taskId }, 'killing the task');
      kill(`titus-executor received ${signal}`);
    });
  }
  await tasks.drain();
  report.flush();
  await notifier.notify({});
  return stateFile.failure === undefined ? EXIT_POD_DONE : EXIT_POD_BROKEN;
};
