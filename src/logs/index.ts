import type { ExecutorConfig } from '../config/config.js';
import type { Logger } from '../common/log.js';
import type { ContainerOutputSource } from '../runtime/container-runtime.js';
import { TaskLogStore } from './task-log-store.js';

export { TaskLogStore } from './task-log-store.js';
export type { LogLine, LogQuery, TaskLogReader, TaskOutputSink } from './types.js';

/** The log store as the config describes it, started (logs directory created, first sweep done). */
export const startTaskLogStore = async (config: ExecutorConfig, source: ContainerOutputSource, log: Logger): Promise<TaskLogStore> => {
  const store = new TaskLogStore({
    stateDir: config.stateDir,
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
