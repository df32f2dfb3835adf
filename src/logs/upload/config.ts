import { z } from 'zod';

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });
const MIB = 1024 * 1024;

/**
 * `logUpload` in the executor config: where a task's logs go once they are on
 * this host (docs/log-upload.md). Off by default. Tests point `endpoint` and
 * `sts.endpoint` at loopback fakes.
 */
export const logUploadConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /**
     * The bucket every task's logs go to (Titus' `--s3-uploader`). Unset: only
     * tasks that name one (`titusParameter.agent.log.s3BucketName`) upload.
     */
    bucket: z.string().min(1).optional(),
    /** Keys are `[<s3PathPrefix>/]titan/<stack>/logs/<taskId>/<file>`, as Titus wrote them. */
    stack: z.string().min(1).default('main'),
    /** Role assumed (STS) for uploads to `bucket`; unset: the host's own credentials (the SDK's default chain). */
    roleArn: z.string().min(1).optional(),
    region: z.string().min(1).default('us-east-1'),
    /** Unset: the SDK's regional endpoint. */
    endpoint: httpUrl.optional(),
    /** Path-style addressing (http://host/bucket/key): for S3-compatible stores and the test fake. */
    forcePathStyle: z.boolean().default(false),
    sts: z
      .object({
        /** Unset: the SDK's regional endpoint. */
        endpoint: httpUrl.optional(),
        /** Unset: `region`. */
        region: z.string().min(1).optional(),
        durationSeconds: z.number().int().min(900).max(43_200).default(3600),
      })
      .prefault({}),
    /** Files at least this large go up in parts (CreateMultipartUpload/UploadPart/CompleteMultipartUpload). */
    multipartThresholdBytes: z.number().int().positive().default(16 * MIB),
    /** Bytes per part (S3's minimum is 5 MiB); parts end at a line end for stdout/stderr, so they can be a little larger. */
    partSizeBytes: z.number().int().min(5 * MIB).max(5 * 1024 * MIB).default(16 * MIB),
    /** Objects uploaded at once, over all tasks: at most concurrency x partSizeBytes in memory. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** How often a running task's rotated output and its /logs directory are looked at. */
    scanIntervalSeconds: z.number().positive().default(60),
    /** A file in /logs matching the task's upload regexp goes up during the task once untouched this long (Titus: 6 h). */
    uploadThresholdSeconds: z.number().nonnegative().default(21_600),
    /** Keep a /logs file on the host after it went up during the task (Titus deleted it). */
    keepLocalFileAfterUpload: z.boolean().default(false),
    /** Back-off after a failed pass: doubles from initialDelayMs up to maxDelayMs; a task's logs are retried until they are up. */
    retry: z
      .object({
        initialDelayMs: z.number().int().positive().default(1_000),
        maxDelayMs: z.number().int().positive().default(300_000),
      })
      .prefault({}),
    /** Per S3/STS request. */
    requestTimeoutMs: z.number().int().positive().default(60_000),
    /** Attempts the SDK makes per request before a pass counts as failed (and waits its back-off). */
    requestMaxAttempts: z.number().int().min(1).max(10).default(3),
    /** Where the task's own log directory is bind-mounted in its container (Titus: /logs). */
    containerLogDir: z.string().regex(/^\/./, 'must be an absolute path').default('/logs'),
  })
  .strict();

export type LogUploadConfig = z.infer<typeof logUploadConfigSchema>;
