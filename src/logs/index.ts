import type { Logger } from '../common/log.js';
import type { ContainerOutputSource } from '../runtime/container-runtime.js';
import { TaskLogStore } from './task-log-store.js';
import type { LogSpaceEvents } from './space-reserve.js';

export { TaskLogStore } from './task-log-store.js';
export type { LogLine, LogQuery, TaskLogReader, TaskOutputSink } from './types.js';
export { MARKER_PREFIX as LOG_MARKER_PREFIX, type LogSpaceEvents } from './space-reserve.js';

/** The config slice the log store reads (the `logs` section of the executor's config, and its state directory). */
export interface TaskLogStoreConfig {
  readonly stateDir: string;
  readonly logs: {
    readonly dir?: string | undefined;
    readonly reserveMb: number;
    readonly maxFileBytes: number;
    readonly maxFiles: number;
    readonly retentionSeconds: number;
    readonly sweepIntervalSeconds: number;
    readonly finishTimeoutMs: number;
  };
}

/** The log store as the config describes it, started (logs directory created, first sweep done). */
export const startTaskLogStore = async (
  config: TaskLogStoreConfig,
  source: ContainerOutputSource,
  log: Logger,
  spaceEvents: LogSpaceEvents = {},
): Promise<TaskLogStore> => {
  const store = new TaskLogStore({
    stateDir: config.stateDir,
    ...(config.logs.dir !== undefined ? { dir: config.logs.dir } : {}),
    reserveBytes: Math.round(config.logs.reserveMb * 1024 * 1024),
    spaceEvents,
    maxFileBytes: config.logs.maxFileBytes,
    maxFiles: config.logs.maxFiles,
    retentionMs: config.logs.retentionSeconds * 1000,
    sweepIntervalMs: config.logs.sweepIntervalSeconds * 1000,
    finishTimeoutMs: config.logs.finishTimeoutMs,
    source,
    log: log.child({ component: 'logs' }),
  });
  await store.start();
  return store;
};
