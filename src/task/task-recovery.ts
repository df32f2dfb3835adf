import { errorMessage } from '../common/errors.js';
import type { ExecutorConfig } from '../config/config.js';
import type { Logger } from '../common/log.js';
import type { ContainerRuntime, ContainerSummary } from '../runtime/container-runtime.js';
import { LABEL } from '../runtime/labels.js';
import type { StatusBus } from './status-bus.js';
import type { TaskPart } from './task-part.js';
import type { TaskRecord } from './task-record.js';
import type { EngineAvailability, TaskRunner } from './task-runner.js';
import type { FirstUpdate } from './task-state-machine.js';
import type { CorruptRecord, TaskStore } from './task-store.js';

export interface RecoveryReport {
  /** Records read back (ended and unfinished). */
  readonly restored: number;
  /** Unfinished tasks picked up again (re-attached, or ended with what the engine says). */
  readonly resumed: number;
  /** Record files that could not be trusted; each task is reported LOST. */
  readonly corrupt: number;
  /** Containers this executor labelled with no task record, stopped and removed. */
  readonly orphansRemoved: number;
}

export interface RecoveryDeps {
  readonly store: TaskStore;
  readonly runtime: ContainerRuntime;
  readonly config: ExecutorConfig;
  readonly log: Logger;
  readonly parts: readonly TaskPart[];
  readonly bus: StatusBus;
  readonly engine?: EngineAvailability;
  /** Registers a rebuilt task with the manager. */
  adopt(runner: TaskRunner): void;
  has(taskId: string): boolean;
  /** True once the executor is stopping: recovery gives up instead of retrying. */
  stopping(): boolean;
  newRunner(record: TaskRecord | CorruptTask, first?: FirstUpdate): TaskRunner;
}

/** A stand-in launch for a task whose record was unreadable: only its id is known. */
export type CorruptTask = Pick<TaskRecord, 'launch' | 'image'> & { readonly history?: undefined };

/**
 * Rebuilds the task table after a restart. Synchronous part first, so the API
 * answers for every stored task before the engine is even asked; then, with
 * the engine, each unfinished task is re-attached to its container or ended
 * with the reason it cannot be.
 */
export const recoverTasks = async (deps: RecoveryDeps): Promise<RecoveryReport> => {
  const { records, corrupt } = deps.store.load();
  deps.bus.restore(
    records.flatMap((r) => r.history),
    deps.store.readSequence(),
  );
  const unfinished: TaskRunner[] = [];
  // Ended tasks in the order they ended, so retention drops the oldest first.
  const byEnd = [...records].sort((a, b) => (a.finishedAtMs ?? Infinity) - (b.finishedAtMs ?? Infinity));
  for (const record of byEnd) {
    const runner = deps.newRunner(record);
    deps.adopt(runner);
    if (!runner.sm.terminal) unfinished.push(runner);
  }
  for (const bad of corrupt) deps.adopt(reportCorrupt(deps, bad));
  deps.log.info({ restored: records.length, unfinished: unfinished.length, corrupt: corrupt.length }, 'task records read back');
  if (deps.engine !== undefined) await deps.engine.whenUp();
  const containers = await listOwnContainers(deps);
  if (containers === undefined) return { restored: records.length, resumed: 0, corrupt: corrupt.length, orphansRemoved: 0 };
  await recoverParts(deps, containers, new Set(unfinished.map((r) => r.launch.taskId)));
  for (const runner of unfinished) runner.resume(containers.get(runner.launch.taskId));
  const orphans = [...containers.values()].filter((c) => !deps.has(c.labels[LABEL.taskId] ?? '') || corrupt.some((b) => b.taskId === c.labels[LABEL.taskId]));
  await Promise.all(orphans.map((c) => removeOrphan(deps, c)));
  return { restored: records.length, resumed: unfinished.length, corrupt: corrupt.length, orphansRemoved: orphans.length };
};

/** The task's main containers by task id, retried until the engine answers; undefined if the executor stops first. */
const listOwnContainers = async (deps: RecoveryDeps): Promise<Map<string, ContainerSummary> | undefined> => {
  for (let attempt = 1; ; attempt++) {
    if (deps.stopping()) return undefined;
    try {
      const list = await deps.runtime.listContainers({ [LABEL.executor]: deps.config.executorId, [LABEL.role]: 'main' });
      return new Map(list.map((c) => [c.labels[LABEL.taskId] ?? c.name, c]));
    } catch (err) {
      deps.log.warn({ err: errorMessage(err), attempt }, 'cannot list task containers for recovery; retrying');
      await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)).unref());
      if (deps.engine !== undefined) await deps.engine.whenUp();
    }
  }
};

/** Each part takes up the live tasks' grants again and drops what no live task owns; one failing does not stop the others. */
const recoverParts = async (deps: RecoveryDeps, containers: ReadonlyMap<string, ContainerSummary>, live: ReadonlySet<string>): Promise<void> => {
  for (const part of deps.parts) {
    await part.reconcileAfterRestart?.([...containers.values()], live).catch((err: unknown) => deps.log.error({ part: part.name, err: errorMessage(err) }, 'part recovery failed'));
  }
};

/** The task is reported LOST with the reason; its record file was moved aside, not deleted. */
const reportCorrupt = (deps: RecoveryDeps, bad: CorruptRecord): TaskRunner => {
  const message = `task record ${bad.file} is unreadable (${bad.reason}); the task's state is lost. The file was kept as ${bad.quarantinedAs}`;
  deps.log.error({ taskId: bad.taskId, reason: bad.reason, file: bad.quarantinedAs }, 'corrupt task record');
  const stub: CorruptTask = {
    launch: { taskId: bad.taskId, containerInfo: {}, resources: { cpu: 0, memoryMb: 0, diskMb: 0, networkMbps: 0, gpus: 0 }, labels: {} },
    image: { repository: '', ref: '' },
  };
  return deps.newRunner(stub, { state: 'LOST', message, reasonCode: 'lost' });
};

/** A container this executor made for a task it has no record of: stopped, removed, and its parts released. */
const removeOrphan = async (deps: RecoveryDeps, container: ContainerSummary): Promise<void> => {
  const taskId = container.labels[LABEL.taskId] ?? container.name;
  deps.log.warn({ taskId, containerId: container.id }, 'removing a task container with no task record');
  // A failed stop still leaves the forced removal to try.
  await deps.runtime
    .stopContainer(container.id, deps.config.container.defaultKillWaitSeconds)
    .catch((err: unknown) => deps.log.warn({ taskId, err: errorMessage(err) }, 'could not stop an orphaned task container; removing it by force'));
  await deps.runtime
    .removeContainer(container.id)
    .catch((err: unknown) => deps.log.error({ taskId, err: errorMessage(err) }, 'could not remove an orphaned task container'));
  for (const part of [...deps.parts].reverse()) {
    await part.release(taskId).catch((err: unknown) => deps.log.warn({ taskId, part: part.name, err: errorMessage(err) }, 'release failed'));
  }
};
