import { updateToProto } from '../api/convert.js';
import type { SystemdNotifier } from '../common/sd-notify.js';
import type { TaskService } from '../task/task-service.js';
import type { LaunchSpec, StatusUpdate, TaskState } from '../task/types.js';
import { toProtoJson } from './format.js';
import type { RunTaskState } from './run-task-state.js';

/** Writes each update as a proto-JSON line on stdout, the state files, and systemd's status line. */
export const reporter = (tasks: Pick<TaskService, 'get'>, spec: LaunchSpec, state: RunTaskState, notifier: SystemdNotifier) => {
  let lastState: TaskState | undefined;
  let writeQueued = false;
  // The update is published before the task's view records it (and the first
  // one before the task is registered), so the state is written a tick later.
  const writeState = (): void => {
    writeQueued = false;
    state.write(tasks.get(spec.taskId));
  };
  return (u: StatusUpdate): void => {
    if (u.taskId !== spec.taskId) return;
    process.stdout.write(`${JSON.stringify(toProtoJson(updateToProto(u)))}\n`);
    if (!writeQueued) {
      writeQueued = true;
      setImmediate(writeState);
    }
    if (u.state === lastState) return;
    lastState = u.state;
    // Type=notify: `systemctl start` returns once the task runs (or has ended before that).
    const ready = u.state === 'RUNNING' || u.state === 'FINISHED' || u.state === 'FAILED' || u.state === 'KILLED' || u.state === 'LOST';
    void notifier.notify({ ready, status: `task ${spec.taskId} ${u.state}: ${u.message}`.slice(0, 200) });
  };
};
