import type { Logger } from '../common/log.js';
import type { ContainerOutputSource } from '../runtime/container-runtime.js';
import { TaskLogStore } from './task-log-store.js';
import type { LogSpaceEvents } from './space-reserve.js';
import type { LogUploadConfig } from './upload/config.js';
import { LogUploader } from './upload/log-uploader.js';
import { logsRoot } from './log-files.js';
import type { HostCredentials } from './upload/s3-clients.js';

export { TaskLogStore } from './task-log-store.js';
export type { LogLine, LogQuery, TaskLogReader, TaskOutputSink } from './types.js';
export { MARKER_PREFIX as LOG_MARKER_PREFIX, type LogSpaceEvents } from './space-reserve.js';
export { logUploadConfigSchema, type LogUploadConfig } from './upload/config.js';
export { LogUploader } from './upload/log-uploader.js';
export { uploadTargetFor, UploadSettingError, LOG_ATTRIBUTE, type UploadTarget, type TaskLogInfo } from './upload/upload-target.js';

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
  /** S3 upload of task logs; absent or not enabled: none. */
  readonly logUpload?: LogUploadConfig;
}

/** The log store as the config describes it, started (logs directory created, first sweep done). */
export const startTaskLogStore = async (
  config: TaskLogStoreConfig,
  source: ContainerOutputSource,
  log: Logger,
  spaceEvents: LogSpaceEvents = {},
  hostCredentials?: HostCredentials,
): Promise<TaskLogStore> => {
  const root = config.logs.dir ?? logsRoot(config.stateDir);
  const uploader =
    config.logUpload?.enabled === true
      ? new LogUploader({ root, config: config.logUpload, log: log.child({ component: 'log-upload' }), ...(hostCredentials !== undefined ? { hostCredentials } : {}) })
      : undefined;
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
    ...(uploader !== undefined ? { uploader } : {}),
  });
  await store.start();
  // After the first sweep; what earlier runs left unsent goes first.
  await uploader?.start();
  return store;
};
