/**
 * The log uploader (src/logs/upload) against stand-ins for AWS, with real
 * files in a temp directory and the real @aws-sdk/client-s3 and client-sts:
 *
 * - FakeS3 (fixtures/fake-s3.ts) stands for Amazon S3: the REST wire format,
 *   path-style on 127.0.0.1, multipart included, with injectable failures;
 * - FakeSts (../metadata-proxy/fixtures/fake-sts.ts) stands for AWS STS
 *   (AssumeRole of the writer role, signed with the host's key);
 * - the real RotatingLogWriter writes the task's output (what the collector
 *   does with a container's stdout/stderr), the real TaskLogStore ends the
 *   task and runs the retention sweep.
 *
 * The kill -9 case runs the uploader in a child process (fixtures/upload-child.ts):
 * the same LogUploader.start() a restarted `serve` runs.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/common/log.js';
import { RotatingLogWriter } from '../../src/logs/rotating-writer.js';
import { TaskLogStore } from '../../src/logs/task-log-store.js';
import { writeEndedMarker } from '../../src/logs/ended-marker.js';
import { logUploadConfigSchema, type LogUploadConfig } from '../../src/logs/upload/config.js';
import { LogUploader } from '../../src/logs/upload/log-uploader.js';
import { isComplete, pendingDir, taskFilesDir, writeTarget } from '../../src/logs/upload/upload-files.js';
import { uploadTargetFor, type UploadSettingError } from '../../src/logs/upload/upload-target.js';
import type { StoredLine } from '../../src/logs/stored-line.js';
import { openConfined } from '../../src/logs/upload/upload-source.js';
import type { ContainerOutputSource } from '../../src/runtime/container-runtime.js';
import type { FakeS3 } from './fixtures/fake-s3.js';
import type { FakeSts } from '../metadata-proxy/fixtures/fake-sts.js';
import { startUploadFakes } from './fixtures/upload-fakes.js';

const HOST_KEY = 'AKIDLOGHOST';
const HOST_CREDENTIALS = { accessKeyId: HOST_KEY, secretAccessKey: 'host-secret' };
const WRITER_ROLE = 'arn:aws:iam::123456789012:role/log-writer';
const BUCKET = 'titus-logs';
const MIB = 1024 * 1024;

const tempDir = (t: { teardown(fn: () => void): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-upload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

interface Fakes {
  readonly s3: FakeS3;
  readonly sts: FakeSts;
  readonly config: (over?: Record<string, unknown>) => LogUploadConfig;
}

const startFakes = async (t: { teardown(fn: () => unknown): void }): Promise<Fakes> => {
  const { s3, sts, s3Url, stsUrl } = await startUploadFakes(t, HOST_KEY, WRITER_ROLE);
  const config = (over: Record<string, unknown> = {}): LogUploadConfig =>
    logUploadConfigSchema.parse({
      enabled: true,
      bucket: BUCKET,
      stack: 'teststack',
      endpoint: s3Url,
      forcePathStyle: true,
      sts: { endpoint: stsUrl },
      multipartThresholdBytes: 5 * MIB,
      partSizeBytes: 5 * MIB,
      scanIntervalSeconds: 0.2,
      requestMaxAttempts: 1,
      retry: { initialDelayMs: 50, maxDelayMs: 400 },
      ...over,
    });
  return { s3, sts, config };
};

let clock = Date.parse('2026-12-03T12:00:00Z');
const line = (stream: 'stdout' | 'stderr', text: string): StoredLine => {
  clock += 1000;
  return { timestamp: new Date(clock).toISOString().replace(/Z$/, '000000Z'), stream, text };
};

const eventually = async (what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const text = (s3: FakeS3, key: string): string => s3.object(BUCKET, key)?.body.toString('utf8') ?? '';

/** The stream's lines as uploaded: the rotated segments in order, then the last file. */
const uploadedLines = (s3: FakeS3, prefix: string, stream: string): string[] => {
  const keys = s3.keys(BUCKET).filter((k) => k.startsWith(`${prefix}${stream}.`));
  return [...keys.map((k) => text(s3, k)), text(s3, `${prefix}${stream}`)].join('').split('\n').filter((l) => l !== '');
};

t.test("an ended task's stdout, stderr and /logs files land under Titus' keys, as the writer role; a large file goes in parts", async (t) => {
  const fakes = await startFakes(t);
  const root = tempDir(t);
  const config = fakes.config();
  const uploader = new LogUploader({ root, config, log: silentLogger(), hostCredentials: HOST_CREDENTIALS });
  t.teardown(() => uploader.stop());
  await uploader.start();
  const taskId = 'task-ended-1';
  const target = uploadTargetFor(
    {
      taskId,
      logUploadRegexp: '\\.txt$',
      passthroughAttributes: { 'titusParameter.agent.log.s3WriterRole': WRITER_ROLE, 'titusParameter.agent.log.s3PathPrefix': '/team-a/' },
    },
    config,
  );
  t.ok(target);
  const files = await uploader.prepare(taskId, target);
  const dir = join(root, taskId);
  t.equal(files, taskFilesDir(dir));

  // The task's output, rotated many times over a 2-file window: dropped files must still go up.
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 4096, maxFiles: 2 });
  const out: string[] = [];
  const err: string[] = [];
  for (let i = 0; i < 400; i++) {
    const l = i % 3 === 0 ? line('stderr', `err ${i}`) : line('stdout', `out ${i} ${'o'.repeat(30)}`);
    (l.stream === 'stdout' ? out : err).push(l.text);
    await writer.append([l]);
  }
  await writer.close();
  t.ok(readdirSync(pendingDir(dir)).length > 2, 'rotated segments wait in upload/pending');
  mkdirSync(join(files, 'sub'));
  writeFileSync(join(files, 'app.txt'), 'app log\n');
  writeFileSync(join(files, 'sub', 'nested.txt'), 'nested\n');
  const big = randomBytes(6 * MIB + 123);
  writeFileSync(join(files, 'big.bin'), big);
  // Links the task made to host files: never followed.
  const hostSecret = join(tempDir(t), 'host-secret.txt');
  writeFileSync(hostSecret, 'host only\n');
  symlinkSync(hostSecret, join(files, 'leak.txt'));
  symlinkSync(dirname(hostSecret), join(files, 'leakdir'));

  await writeEndedMarker(dir, Date.now());
  uploader.taskEnded(taskId, dir);
  await uploader.whenComplete(taskId);
  t.ok(isComplete(dir), 'the task is marked complete');

  const prefix = `team-a/titan/teststack/logs/${taskId}/`;
  const keys = fakes.s3.keys(BUCKET);
  for (const k of ['stdout', 'stderr', 'app.txt', 'sub/nested.txt', 'big.bin']) t.ok(keys.includes(`${prefix}${k}`), `${prefix}${k} uploaded`);
  t.ok(keys.every((k) => k.startsWith(prefix)), 'every key under the task prefix');
  t.notOk(keys.some((k) => k.includes('leak')), 'links to host files and directories are not followed');
  t.same(uploadedLines(fakes.s3, prefix, 'stdout'), out, 'stdout: every line once, in order, across the rotated segments');
  t.same(uploadedLines(fakes.s3, prefix, 'stderr'), err, 'stderr: every line once, in order');
  t.equal(text(fakes.s3, `${prefix}sub/nested.txt`), 'nested\n');
  const bigObject = fakes.s3.object(BUCKET, `${prefix}big.bin`);
  t.ok(bigObject?.multipart, 'the 6 MiB file went multipart');
  t.equal(bigObject?.parts, 2);
  t.ok(bigObject?.body.equals(big), 'its bytes are the file');
  t.equal(fakes.s3.object(BUCKET, `${prefix}app.txt`)?.multipart, false, 'small files are one PutObject');
  t.equal(fakes.s3.object(BUCKET, `${prefix}app.txt`)?.acl, 'bucket-owner-full-control');

  t.equal(fakes.sts.calls.length, 1, 'one AssumeRole for the whole task');
  t.equal(fakes.sts.calls[0]?.roleArn, WRITER_ROLE);
  t.equal(fakes.sts.calls[0]?.sessionName, `titus-${taskId}`);
  const issued = fakes.sts.issued[0];
  t.ok(
    fakes.s3.calls.every((c) => c.accessKeyId === issued?.accessKeyId && c.sessionToken === issued?.sessionToken),
    'every S3 request signed with the assumed role',
  );
  t.same(readdirSync(pendingDir(dir)), [], 'the pending links are gone once up');
  t.ok(existsSync(join(files, 'app.txt')), 'files are kept after the final upload (the retention sweep removes them)');
});

t.test('while the task runs: rotated output and due /logs files go up, and a /logs file is removed only once its object is up', async (t) => {
  const fakes = await startFakes(t);
  const root = tempDir(t);
  const config = fakes.config({ uploadThresholdSeconds: 0 });
  const uploader = new LogUploader({ root, config, log: silentLogger(), hostCredentials: HOST_CREDENTIALS });
  t.teardown(() => uploader.stop());
  const taskId = 'task-running-1';
  await uploader.prepare(taskId, uploadTargetFor({ taskId }, config));
  const dir = join(root, taskId);
  fakes.s3.failNext(1_000_000); // S3 down
  // First only the app's file: each failing pass gets as far as its upload.
  const rotatedApp = join(taskFilesDir(dir), 'app-2026.log');
  writeFileSync(rotatedApp, 'rotated by the app\n');
  writeFileSync(join(taskFilesDir(dir), 'current.txt'), 'not due: matches nothing\n');
  await eventually('failed uploads of the app file', () => fakes.s3.calls.filter((c) => c.status === 500 && c.key.endsWith('app-2026.log')).length >= 2);
  t.ok(existsSync(rotatedApp), 'not removed while its upload fails');
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 4096, maxFiles: 2 });
  t.teardown(() => writer.close());
  for (let i = 0; i < 200; i++) await writer.append([line('stdout', `running ${i} ${'r'.repeat(40)}`)]);
  await eventually('failed uploads of rotated output', () => fakes.s3.calls.filter((c) => c.status === 500 && c.key.includes('/stdout.')).length >= 2);
  t.ok(readdirSync(pendingDir(dir)).length > 0, 'rotated segments kept while S3 is down');
  t.ok(existsSync(rotatedApp), 'still there');

  fakes.s3.failNext(0);
  const prefix = `titan/teststack/logs/${taskId}/`;
  await eventually('the due files up', () => !existsSync(rotatedApp) && readdirSync(pendingDir(dir)).length === 0);
  t.equal(text(fakes.s3, `${prefix}app-2026.log`), 'rotated by the app\n', 'the app-rotated file is up (Titus built-in pattern)');
  t.ok(fakes.s3.keys(BUCKET).some((k) => k.startsWith(`${prefix}stdout.`)), 'rotated stdout segments are up during the task');
  t.notOk(fakes.s3.object(BUCKET, `${prefix}current.txt`), 'a file matching no pattern waits for the end');
  t.notOk(fakes.s3.object(BUCKET, `${prefix}stdout`), 'the last output file waits for the end');
  t.notOk(isComplete(dir));
  t.ok(existsSync(join(taskFilesDir(dir), 'current.txt')));
  t.ok(
    fakes.s3.calls.every((c) => c.accessKeyId === HOST_KEY && c.sessionToken === undefined),
    'no role: signed with the host credentials',
  );
  t.equal(fakes.sts.calls.length, 0);
});

const noSource: ContainerOutputSource = {
  followOutput: () => {
    throw new Error('no container in this test');
  },
} as unknown as ContainerOutputSource;

t.test('S3 failing N times: retried with a growing back-off until up; the retention sweep keeps the logs until then', async (t) => {
  const fakes = await startFakes(t);
  const root = tempDir(t);
  const config = fakes.config({ retry: { initialDelayMs: 100, maxDelayMs: 10_000 } });
  const uploader = new LogUploader({ root, config, log: silentLogger(), hostCredentials: HOST_CREDENTIALS });
  const store = new TaskLogStore({
    stateDir: root,
    dir: root,
    maxFileBytes: 4096,
    maxFiles: 2,
    retentionMs: 0,
    sweepIntervalMs: 3_600_000,
    finishTimeoutMs: 1000,
    source: noSource,
    log: silentLogger(),
    uploader,
  });
  await store.start();
  t.teardown(() => store.stop());
  const taskId = 'task-retry-1';
  await uploader.prepare(taskId, uploadTargetFor({ taskId }, config));
  const dir = join(root, taskId);
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 4096, maxFiles: 2 });
  await writer.append([line('stdout', 'the only line')]);
  await writer.close();
  writeFileSync(join(taskFilesDir(dir), 'result.txt'), 'result\n');

  const N = 4;
  fakes.s3.failNext(N);
  const endedAt = Date.now();
  store.ended(taskId, endedAt);
  await eventually('the first failure', () => fakes.s3.calls.some((c) => c.status === 500));
  t.same(await store.sweep(Date.now() + 1000), [], 'past retention but not uploaded: the sweep keeps it');
  t.ok(existsSync(join(taskFilesDir(dir), 'result.txt')));

  await eventually('complete', () => isComplete(dir));
  const failed = fakes.s3.calls.filter((c) => c.status === 500);
  t.equal(failed.length, N, `the ${N} failures were each retried`);
  // 100 + 200 + 400 + 800 ms of back-off before the first success; a lower bound holds under any load.
  const firstSuccess = fakes.s3.calls.find((c) => c.status === 200);
  t.ok(firstSuccess);
  t.ok(Date.now() - endedAt >= 1500, 'the retries waited a doubling back-off');
  const prefix = `titan/teststack/logs/${taskId}/`;
  t.equal(text(fakes.s3, `${prefix}stdout`), 'the only line\n');
  t.equal(text(fakes.s3, `${prefix}stderr`), '', 'the final stderr is made even when empty (as Titus did)');
  t.equal(text(fakes.s3, `${prefix}result.txt`), 'result\n');
  t.same(await store.sweep(Date.now() + 1000), [taskId], 'once up, the sweep removes it');
  t.notOk(existsSync(dir));
});

t.test('a task naming its own bucket is written with its own IAM role; disableUploads and a bad regexp are honoured', async (t) => {
  const fakes = await startFakes(t);
  const config = fakes.config();
  const own = uploadTargetFor(
    { taskId: 'x', iamProfile: 'arn:aws:iam::123456789012:role/task-role', passthroughAttributes: { 'titusParameter.agent.log.s3BucketName': 'team-bucket' } },
    config,
  );
  t.equal(own?.bucket, 'team-bucket');
  t.equal(own?.roleArn, 'arn:aws:iam::123456789012:role/task-role');
  t.equal(uploadTargetFor({ taskId: 'x' }, config)?.roleArn, undefined, "the host's bucket without logUpload.roleArn: host credentials");
  t.equal(uploadTargetFor({ taskId: 'x', passthroughAttributes: { 'titusParameter.agent.log.disableUploads': 'true' } }, config), undefined);
  t.equal(uploadTargetFor({ taskId: 'x' }, fakes.config({ bucket: undefined })), undefined, 'no bucket anywhere: no upload');
  const fieldOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return (err as UploadSettingError).field;
    }
  };
  t.equal(fieldOf(() => uploadTargetFor({ taskId: 'x', logUploadRegexp: '(' }, config)), 'logUploadRegexp');
  t.equal(
    fieldOf(() => uploadTargetFor({ taskId: 'x', passthroughAttributes: { 'titusParameter.agent.log.uploadThresholdTime': 'soon' } }, config)),
    'passthroughAttributes.titusParameter.agent.log.uploadThresholdTime',
  );
  t.equal(uploadTargetFor({ taskId: 'x', passthroughAttributes: { 'titusParameter.agent.log.uploadThresholdTime': '1h30m' } }, config)?.uploadThresholdMs, 5_400_000);
});

const child = fileURLToPath(new URL('./fixtures/upload-child.ts', import.meta.url));

/** The uploader alone in a child process, as a restarted executor starts it (LogUploader.start()). */
const startChild = (root: string, config: LogUploadConfig): ChildProcess => {
  const c = spawn(process.execPath, [...process.execArgv, child], {
    env: { ...process.env, UPLOAD_ROOT: root, UPLOAD_CONFIG: JSON.stringify(config), UPLOAD_HOST_KEY: HOST_KEY },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return c;
};

t.test('kill -9 in the middle of a multipart upload: a new process resumes it and sends no finished part again', async (t) => {
  const fakes = await startFakes(t);
  const root = tempDir(t);
  const config = fakes.config();
  const taskId = 'task-crash-1';
  const dir = join(root, taskId);
  const target = uploadTargetFor({ taskId }, config);
  if (target === undefined) throw new Error('no target');
  mkdirSync(taskFilesDir(dir), { recursive: true });
  mkdirSync(pendingDir(dir), { recursive: true });
  await writeTarget(dir, target);
  const big = randomBytes(12 * MIB + 7);
  writeFileSync(join(taskFilesDir(dir), 'big.bin'), big);
  await writeEndedMarker(dir, Date.now());

  const held = fakes.s3.holdPart(2);
  const first = startChild(root, config);
  t.teardown(() => first.kill('SIGKILL'));
  await held;
  t.equal(fakes.s3.callsOf('UploadPart').filter((c) => c.status === 200).length, 1, 'part 1 is up when part 2 is in flight');
  const exited = new Promise((resolve) => first.once('exit', resolve));
  first.kill('SIGKILL');
  await exited;
  fakes.s3.release();
  t.ok(existsSync(join(taskFilesDir(dir), 'big.bin')), 'the file is still here');

  const second = startChild(root, config);
  t.teardown(() => second.kill('SIGKILL'));
  await eventually('complete after the restart', () => isComplete(dir), 60_000);
  const key = `titan/teststack/logs/${taskId}/big.bin`;
  const parts = fakes.s3.callsOf('UploadPart').filter((c) => c.key === key && c.status === 200);
  t.same(
    parts.map((c) => c.partNumber),
    [1, 2, 3],
    'each part sent (successfully) once: part 1 before the crash, 2 and 3 after',
  );
  t.equal(fakes.s3.callsOf('CreateMultipartUpload').length, 1, 'the same multipart upload was resumed');
  t.ok(fakes.s3.object(BUCKET, key)?.body.equals(big), 'the object is the file, byte for byte');
  t.equal(readFileSync(join(taskFilesDir(dir), 'big.bin')).length, big.length);
});

t.test('a /logs path that resolves outside the task directory (a directory swapped for a link) is refused at open', async (t) => {
  const root = tempDir(t);
  const files = join(root, 'files');
  mkdirSync(files);
  const outside = tempDir(t);
  writeFileSync(join(outside, 'secret.txt'), 'host only\n');
  writeFileSync(join(files, 'ok.txt'), 'fine\n');
  symlinkSync(outside, join(files, 'swapped'));
  symlinkSync(join(outside, 'secret.txt'), join(files, 'link.txt'));
  const confined = realpathSync(files);
  await t.rejects(openConfined(join(files, 'swapped', 'secret.txt'), confined), { name: 'OutsideTaskDirError' });
  await t.rejects(openConfined(join(files, 'link.txt'), confined), { code: 'ELOOP' }, 'a link as the last component is not followed');
  const ok = await openConfined(join(files, 'ok.txt'), confined);
  await ok.close();
});
