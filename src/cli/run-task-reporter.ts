import { updateToProto } from '../api/convert.js';
import type { SystemdNotifier } from '../common/sd-notify.js';
import type { TaskService } from '../task/task-service.js';
import type { LaunchSpec, StatusUpdate, TaskState } from '../task/types.js';
import { toProtoJson } from './format.js';
import type { RunTaskState } from './run-task-state.js';

/** A status-bus subscriber; `flush` writes what is pending now (at the end of the run). */
export type Reporter = ((u: StatusUpdate) => void) & { flush(): void };

/**
 * Writes each update to the state files, then as a proto-JSON line on stdout,
 * and systemd's status line. The files come first: whoever reads a line on
 * stdout (a supervisor, a test) and then asks the daemon finds the task as the
 * line says.
 */
export const reporter = (tasks: Pick<TaskService, 'get'>, spec: LaunchSpec, state: RunTaskState, notifier: SystemdNotifier): Reporter => {
  let lastState: TaskState | undefined;
  let writeQueued = false;
  const pendingLines: string[] = [];
  // The update is published before the task's view records it (and the first
  // one before the task is registered), so the state is written a tick later.
  const flush = (): void => {
    writeQueued = false;
    state.write(tasks.get(spec.taskId));
    for (const line of pendingLines.splice(0)) process.stdout.write(line);
  };
  const onUpdate = (u: StatusUpdate): void => {
    if (u.taskId !== spec.taskId) return;
    pendingLines.push(`${JSON.stringify(toProtoJson(updateToProto(u)))}\n`);
    if (!writeQueued) {
      writeQueued = true;
      setImmediate(() => {
        if (writeQueued) flush();
      });
    }
    if (u.state === lastState) return;
    lastState = u.state;
    // Type=notify: `systemctl start` returns once the task runs (or has ended before that).
    const ready = u.state === 'RUNNING' || u.state === 'FINISHED' || u.state === 'FAILED' || u.state === 'KILLED' || u.state === 'LOST';
    void notifier.notify({ ready, status: `task ${spec.taskId} ${u.state}: ${u.message}`.slice(0, 200) });
  };
  return Object.assign(onUpdate, { flush });
};
