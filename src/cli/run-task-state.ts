import { join } from 'node:path';
import { ensurePrivateDirSync, writePrivateFileSync } from '../common/atomic-file.js';
import { readPublishedDocuments } from '../task/published-tasks.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { taskToProto } from '../api/convert.js';
import { isProcessAlive, processStartTime } from '../common/process-liveness.js';
import type { TaskView } from '../task/types.js';
import { toProtoJson } from './format.js';

/**
 * Where every `run-task` process publishes its task, one `<taskId>.json` each,
 * so a daemon on the same host can list them next to its own (tmpfs: a reboot
 * clears it, as it clears the containers' reason to exist).
 */
export const DEFAULT_RUN_TASK_DIR = '/run/titus-executor/run-task';

/** The document in the state file and in the run-task directory. */
export interface RunTaskStateDocument {
  /** The executor id on the task's container labels (`titus.executor.id`). */
  readonly executorId: string;
  /** The run-task process; when it is gone and the task is not terminal, the task is lost. */
  readonly pid: number;
  /** The process' start time (/proc), so a reused pid is not taken for it. */
  readonly pidStartTime?: string;
  readonly updatedAt: string;
  /** The task exactly as GetTask returns it, in the proto JSON mapping. */
  readonly task: unknown;
  /** The same task as the executor holds it, for a daemon to list (src/task/published-tasks.ts). */
  readonly view: TaskView;
}

// Readers see the old document or the new one, never half of one. The document
// holds the request, env secrets included: 0600, in a directory only root enters.
const writeAtomic = (file: string, text: string): void => writePrivateFileSync(file, text);

export interface RunTaskStateOptions {
  readonly executorId: string;
  /** `--state-file`: failing to write it fails the run (the caller asked for it). */
  readonly stateFile?: string;
  /** The shared directory: best effort (an unprivileged run cannot write /run). */
  readonly runTaskDir?: string;
  readonly log: Logger;
}

/** Rewrites the task's state after every update. */
export class RunTaskState {
  private dirBroken = false;
  private dirChecked = false;
  private readonly pidStartTime = processStartTime(process.pid);

  constructor(private readonly opts: RunTaskStateOptions) {}

  write(view: TaskView): void {
    const doc: RunTaskStateDocument = {
      executorId: this.opts.executorId,
      pid: process.pid,
      ...(this.pidStartTime !== undefined ? { pidStartTime: this.pidStartTime } : {}),
      updatedAt: new Date().toISOString(),
      task: toProtoJson(taskToProto(view)),
      view,
    };
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    if (this.opts.stateFile !== undefined) writeAtomic(this.opts.stateFile, text);
    if (this.opts.runTaskDir !== undefined && !this.dirBroken) {
      try {
        if (!this.dirChecked) {
          // An older version created it world-readable: closed before a request is put in it.
          ensurePrivateDirSync(this.opts.runTaskDir);
          this.dirChecked = true;
        }
        writeAtomic(join(this.opts.runTaskDir, `${view.taskId}.json`), text);
      } catch (err) {
        this.dirBroken = true;
        this.opts.log.warn({ dir: this.opts.runTaskDir, err: errorMessage(err) }, 'cannot publish the task for the daemon; it will not list it');
      }
    }
  }
}

export interface PublishedRunTask {
  readonly document: RunTaskStateDocument;
  /** Whether its run-task process still runs; a non-terminal task without one is lost. */
  readonly alive: boolean;
}

/** For the daemon (`ps`): the tasks run-task processes on this host have published. */
export const readPublishedRunTasks = (dir: string = DEFAULT_RUN_TASK_DIR): PublishedRunTask[] =>
  readPublishedDocuments<RunTaskStateDocument>(dir).map((document) => ({
    document,
    alive: isProcessAlive(document.pid, document.pidStartTime),
  }));
