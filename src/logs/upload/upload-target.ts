/**
 * Where one task's logs go and how, decided once at launch from its
 * ContainerInfo and the host's `logUpload` config, and kept in the task's log
 * directory (upload/target.json) so a restarted executor uploads the same way.
 */
import { posix } from 'node:path';
import { z } from 'zod';
import type { LogUploadConfig } from './config.js';

/** The passthrough attributes Titus read for log upload (titus-api.md, "passthrough attributes"). */
export const LOG_ATTRIBUTE = {
  bucket: 'titusParameter.agent.log.s3BucketName',
  pathPrefix: 'titusParameter.agent.log.s3PathPrefix',
  writerRole: 'titusParameter.agent.log.s3WriterRole',
  keepLocal: 'titusParameter.agent.log.keepLocalFileAfterUpload',
  thresholdTime: 'titusParameter.agent.log.uploadThresholdTime',
  checkInterval: 'titusParameter.agent.log.uploadCheckInterval',
  disable: 'titusParameter.agent.log.disableUploads',
} as const;

/** The ContainerInfo fields this reads, as a plain object (the adapter's own type). */
export interface TaskLogInfo {
  readonly taskId: string;
  readonly iamProfile?: string | undefined;
  readonly logUploadRegexp?: string | undefined;
  readonly passthroughAttributes?: Readonly<Record<string, string>> | undefined;
}

export const uploadTargetSchema = z.object({
  bucket: z.string().min(1),
  /** Ends with `/`: the object key of a file is this plus its name. */
  keyPrefix: z.string(),
  /** Assumed through STS for this task's uploads; absent: the host's credentials. */
  roleArn: z.string().min(1).optional(),
  sessionName: z.string().min(1),
  /** Files of the task's /logs that go up while it runs (besides Titus' built-in patterns). */
  uploadRegexp: z.string().optional(),
  keepLocalFileAfterUpload: z.boolean(),
  uploadThresholdMs: z.number().nonnegative(),
  scanIntervalMs: z.number().positive(),
});
export type UploadTarget = z.infer<typeof uploadTargetSchema>;

/** A problem with the task's log settings, naming the field (the core turns it into INVALID_ARGUMENT). */
export class UploadSettingError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'UploadSettingError';
  }
}

/** Go's time.ParseDuration for the units Titus' users wrote (h, m, s, ms): milliseconds. */
export const parseGoDuration = (text: string): number | undefined => {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(s)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 0);
  return total;
};

const parseBool = (field: string, raw: string | undefined): boolean | undefined => {
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0' || v === '') return false;
  throw new UploadSettingError(`passthroughAttributes.${field}`, `${field} must be true or false, not ${JSON.stringify(raw)}`);
};

const duration = (field: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  const ms = parseGoDuration(raw);
  if (ms === undefined) throw new UploadSettingError(`passthroughAttributes.${field}`, `${field} must be a duration such as 6h or 15m, not ${JSON.stringify(raw)}`);
  return ms;
};

/** `titus-<taskId>` in STS's RoleSessionName alphabet, at most 64 characters (the session name Titus used). */
const sessionNameFor = (taskId: string): string => `titus-${taskId}`.replace(/[^\w+=,.@-]/g, '_').slice(0, 64);

/** Checks the regexp compiles (JavaScript syntax; Go's RE2 patterns users wrote mostly are that too). */
export const compileUploadRegexp = (pattern: string | undefined): RegExp | undefined => {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new UploadSettingError('logUploadRegexp', `logUploadRegexp does not compile: ${(err as Error).message}`);
  }
};

/**
 * The task's upload target, or undefined when its logs are not uploaded (no
 * bucket from config or task, or `disableUploads`). As Titus did: a bucket
 * named by the task is written with the task's writer role, else its own IAM
 * role; the host's bucket with the writer role, else `logUpload.roleArn`, else
 * the host's credentials. Throws UploadSettingError for malformed settings.
 */
export const uploadTargetFor = (info: TaskLogInfo, config: LogUploadConfig): UploadTarget | undefined => {
  const attrs = info.passthroughAttributes ?? {};
  compileUploadRegexp(info.logUploadRegexp);
  const keep = parseBool(LOG_ATTRIBUTE.keepLocal, attrs[LOG_ATTRIBUTE.keepLocal]);
  const threshold = duration(LOG_ATTRIBUTE.thresholdTime, attrs[LOG_ATTRIBUTE.thresholdTime]);
  const interval = duration(LOG_ATTRIBUTE.checkInterval, attrs[LOG_ATTRIBUTE.checkInterval]);
  if (parseBool(LOG_ATTRIBUTE.disable, attrs[LOG_ATTRIBUTE.disable]) === true) return undefined;
  const taskBucket = attrs[LOG_ATTRIBUTE.bucket]?.trim();
  const bucket = taskBucket !== undefined && taskBucket !== '' ? taskBucket : config.bucket;
  if (bucket === undefined) return undefined;
  const writerRole = attrs[LOG_ATTRIBUTE.writerRole]?.trim();
  const taskRole = info.iamProfile?.trim();
  const roleArn =
    writerRole !== undefined && writerRole !== ''
      ? writerRole
      : taskBucket !== undefined && taskBucket !== ''
        ? taskRole !== undefined && taskRole !== ''
          ? taskRole
          : undefined
        : config.roleArn;
  const pathPrefix = (attrs[LOG_ATTRIBUTE.pathPrefix] ?? '').replace(/^\/+|\/+$/g, '');
  const keyPrefix = `${posix.join(pathPrefix, 'titan', config.stack, 'logs', info.taskId)}/`;
  return {
    bucket,
    keyPrefix,
    ...(roleArn !== undefined ? { roleArn } : {}),
    sessionName: sessionNameFor(info.taskId),
    ...(info.logUploadRegexp !== undefined && info.logUploadRegexp !== '' ? { uploadRegexp: info.logUploadRegexp } : {}),
    keepLocalFileAfterUpload: keep ?? config.keepLocalFileAfterUpload,
    uploadThresholdMs: threshold ?? config.uploadThresholdSeconds * 1000,
    scanIntervalMs: interval ?? config.scanIntervalSeconds * 1000,
  };
};

/**
 * Titus' built-in patterns: besides the task's regexp, these /logs files went
 * up while the task ran (completed files, rotated logs, core files).
 */
export const BUILT_IN_UPLOAD_PATTERNS: readonly RegExp[] = [
  /\.complete$/,
  /stdout.[\d_.]+$/,
  /stderr.[\d_.]+$/,
  /[\d\-_]+.log/,
  /[\d\-_]+.out/,
  /\S+\.core\.\d+\.\d+/,
];
