/**
 * Puts one local file (or one stream of a stored output file) into S3 as one
 * object: PutObject below the multipart threshold, else a multipart upload
 * whose progress (upload id, each part's ETag and where it ended in the file)
 * is written to a state file after every part. A restarted executor resumes
 * from the state file: the parts already done are not sent again, only the
 * part that was in flight is (under the same part number, which S3 replaces).
 *
 * Why not @aws-sdk/lib-storage's Upload: it cannot take up an existing
 * UploadId after a process restart, so a kill -9 in the middle of a 5 GiB
 * file would send all of it again; the three calls done here are all it would
 * do otherwise.
 */
import { lstat, readFile, rm } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { loadS3Sdk } from './s3-sdk.js';
import { openConfined, readSource, type SourceKind } from './upload-source.js';

export interface ObjectJob {
  readonly bucket: string;
  readonly key: string;
  readonly path: string;
  readonly kind: SourceKind;
  readonly stateFile: string;
  /** The file must be under this directory once opened (files the task wrote itself). */
  readonly confineTo?: string;
}

export interface UploadLimits {
  readonly multipartThresholdBytes: number;
  readonly partSizeBytes: number;
  /** No object for a stream without a line in this file (rotated segments); the final `stdout`/`stderr` are always made. */
  readonly skipEmpty: boolean;
}

const sourceIdSchema = z.object({ ino: z.number(), size: z.number(), mtimeMs: z.number() });
const stateSchema = z.object({
  key: z.string(),
  source: sourceIdSchema,
  done: z.boolean().default(false),
  uploadId: z.string().optional(),
  parts: z.array(z.object({ partNumber: z.number().int().positive(), etag: z.string(), end: z.number().nonnegative() })).default([]),
});
type ObjectState = z.infer<typeof stateSchema>;
type SourceId = z.infer<typeof sourceIdSchema>;

const OBJECT_PARAMS = { ACL: 'bucket-owner-full-control', ContentType: 'text/plain; charset=utf-8' } as const;

export type ObjectOutcome = 'uploaded' | 'already-uploaded' | 'source-gone' | 'empty';

const readState = async (file: string): Promise<ObjectState | undefined> => {
  try {
    const parsed = stateSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

const writeState = (file: string, state: ObjectState): Promise<void> => writeFileAtomic(file, `${JSON.stringify(state)}\n`, 0o600, 0o750);

const sameSource = (a: SourceId, b: SourceId): boolean => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

/** Whether `job`'s object is up for this version of its file (a state file saying done). */
export const isUploaded = async (job: Pick<ObjectJob, 'path' | 'stateFile' | 'key'>): Promise<boolean> => {
  const st = await lstat(job.path).catch(() => undefined);
  const state = await readState(job.stateFile);
  return st !== undefined && state !== undefined && state.done && state.key === job.key && sameSource(state.source, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
};

/** The file's identity as opened (no link followed, confined where asked); undefined when it is gone. */
const identify = async (job: ObjectJob): Promise<SourceId | undefined> => {
  let handle;
  try {
    handle = await openConfined(job.path, job.confineTo);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await handle.stat();
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } finally {
    await handle.close();
  }
};

export const uploadObject = async (s3: S3Client, job: ObjectJob, limits: UploadLimits, signal: AbortSignal): Promise<ObjectOutcome> => {
  // Loaded already by whoever made `s3`; imported here rather than at the top so that this module does not load the SDK.
  const { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } = await loadS3Sdk();
  const st = await identify(job);
  if (st === undefined) return 'source-gone';
  const source: SourceId = st;
  const previous = await readState(job.stateFile);
  if (previous?.done === true && previous.key === job.key && sameSource(previous.source, source)) return 'already-uploaded';
  if (st.size < limits.multipartThresholdBytes) {
    const chunks: Buffer[] = [];
    for await (const c of readSource(job.path, job.kind, 0, st.size, job.confineTo)) chunks.push(c.data);
    if (limits.skipEmpty && chunks.every((c) => c.length === 0)) {
      await writeState(job.stateFile, { key: job.key, source, done: true, parts: [] });
      return 'empty';
    }
    await s3.send(new PutObjectCommand({ Bucket: job.bucket, Key: job.key, Body: Buffer.concat(chunks), ...OBJECT_PARAMS }), { abortSignal: signal });
    await writeState(job.stateFile, { key: job.key, source, done: true, parts: [] });
    return 'uploaded';
  }
  let state: ObjectState;
  if (previous?.uploadId !== undefined && !previous.done && previous.key === job.key && sameSource(previous.source, source)) {
    state = previous;
  } else {
    // A different file (or version) had an upload under way: it will never be completed.
    if (previous?.uploadId !== undefined && !previous.done) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: job.bucket, Key: previous.key, UploadId: previous.uploadId }), { abortSignal: signal }).catch(() => undefined);
    }
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: job.bucket, Key: job.key, ...OBJECT_PARAMS }), { abortSignal: signal });
    if (created.UploadId === undefined) throw new Error('S3 answered CreateMultipartUpload without an UploadId');
    state = { key: job.key, source, done: false, uploadId: created.UploadId, parts: [] };
    await writeState(job.stateFile, state);
  }
  const uploadId = state.uploadId ?? '';
  const sendPart = async (body: Buffer, end: number): Promise<void> => {
    const partNumber = state.parts.length + 1;
    const out = await s3.send(new UploadPartCommand({ Bucket: job.bucket, Key: job.key, UploadId: uploadId, PartNumber: partNumber, Body: body }), {
      abortSignal: signal,
    });
    if (out.ETag === undefined) throw new Error(`S3 answered UploadPart ${partNumber} without an ETag`);
    state = { ...state, parts: [...state.parts, { partNumber, etag: out.ETag, end }] };
    await writeState(job.stateFile, state);
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let end = state.parts.at(-1)?.end ?? 0;
  for await (const chunk of readSource(job.path, job.kind, end, st.size, job.confineTo)) {
    pending.push(chunk.data);
    pendingBytes += chunk.data.length;
    end = chunk.end;
    if (pendingBytes >= limits.partSizeBytes) {
      await sendPart(Buffer.concat(pending), end);
      pending = [];
      pendingBytes = 0;
    }
  }
  if (state.parts.length === 0 && pendingBytes === 0 && limits.skipEmpty) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: job.bucket, Key: job.key, UploadId: uploadId }), { abortSignal: signal }).catch(() => undefined);
    await writeState(job.stateFile, { key: job.key, source, done: true, parts: [] });
    return 'empty';
  }
  if (pendingBytes > 0 || state.parts.length === 0) await sendPart(Buffer.concat(pending), end);
  try {
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: job.bucket,
        Key: job.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: state.parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    // The upload is gone (aborted, expired by a lifecycle rule): start over next time.
    if ((err as Error).name === 'NoSuchUpload') await rm(job.stateFile, { force: true });
    throw err;
  }
  await writeState(job.stateFile, { key: job.key, source, done: true, parts: [] });
  return 'uploaded';
};
