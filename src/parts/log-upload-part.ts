/**
 * Connects a task to the log uploader (src/logs/upload): at admission it
 * checks the task's log settings (logUploadRegexp, the log passthrough
 * attributes), at acquire it makes the task's log directory, records where its
 * logs go, and grants the bind mount of that directory at /logs (Titus' task
 * log directory). The uploads themselves happen beside the task: rotated output
 * and due /logs files while it runs, the rest once the log store says it ended.
 */
import { invalidArgument } from '../common/errors.js';
import type { LogUploader, LogUploadConfig, TaskLogInfo, UploadTarget } from '../logs/index.js';
import { UploadSettingError, uploadTargetFor } from '../logs/index.js';
import type { PartGrant, TaskPart } from '../task/task-part.js';
import type { LaunchSpec } from '../task/types.js';

const infoOf = (launch: LaunchSpec): TaskLogInfo => ({
  taskId: launch.taskId,
  iamProfile: launch.containerInfo.iamProfile,
  logUploadRegexp: launch.containerInfo.logUploadRegexp,
  passthroughAttributes: launch.containerInfo.passthroughAttributes,
});

export class LogUploadPart implements TaskPart {
  readonly name = 'log-upload';

  constructor(
    private readonly uploader: LogUploader,
    private readonly config: LogUploadConfig,
  ) {}

  admit(launch: LaunchSpec): void {
    this.targetOf(launch);
  }

  async acquire(launch: LaunchSpec): Promise<PartGrant> {
    const files = await this.uploader.prepare(launch.taskId, this.targetOf(launch));
    // A pod that mounts its own volume there keeps it (its files are then not uploaded).
    if (launch.mounts?.some((m) => m.target === this.config.containerLogDir) === true) return {};
    return { mounts: [{ source: files, target: this.config.containerLogDir }] };
  }

  release(): Promise<void> {
    return Promise.resolve(); // the final upload starts when the log store has the task's output to its end
  }

  private targetOf(launch: LaunchSpec): UploadTarget | undefined {
    try {
      return uploadTargetFor(infoOf(launch), this.config);
    } catch (err) {
      if (err instanceof UploadSettingError) throw invalidArgument(`containerInfo.${err.field}`, err.message);
      throw err;
    }
  }
}

/** The log passthrough attribute that asks for no upload: honoured by not uploading, so accepted where upload is off. */
const DISABLE_UPLOADS = 'titusParameter.agent.log.disableUploads';
const LOG_ATTRIBUTE_PREFIX = 'titusParameter.agent.log.';

/**
 * Where log upload is off (logUpload.enabled false): a task that asks for an
 * upload (logUploadRegexp, or a log attribute other than disableUploads) is
 * refused naming the field, since it would run with its logs kept on this
 * host only, the silent ignoring docs/fields.md rules out.
 */
export class LogUploadOffPart implements TaskPart {
  readonly name = 'log-upload-off';

  admit(launch: LaunchSpec): void {
    const off = 'log upload to S3 is off on this host (logUpload.enabled: false); launch the task on a host that uploads, or without it';
    const regexp = launch.containerInfo.logUploadRegexp;
    if (regexp !== undefined && regexp !== '') throw invalidArgument('containerInfo.logUploadRegexp', off);
    for (const [key, value] of Object.entries(launch.containerInfo.passthroughAttributes ?? {})) {
      if (!key.startsWith(LOG_ATTRIBUTE_PREFIX) || value === '') continue;
      if (key === DISABLE_UPLOADS) continue;
      throw invalidArgument(`containerInfo.passthroughAttributes.${key}`, off);
    }
  }

  acquire(): Promise<PartGrant> {
    return Promise.resolve({});
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

/** The part when the log store has an uploader (logUpload.enabled), else the one that refuses upload requests. */
export const createLogUploadPart = (uploader: LogUploader | undefined, config: LogUploadConfig): LogUploadPart | LogUploadOffPart =>
  uploader === undefined ? new LogUploadOffPart() : new LogUploadPart(uploader, config);
