/**
 * The executor itself killed (-9) in the middle of a task's log upload: a real
 * `titus-executor serve` child process (the built CLI), a real container on
 * the harness engine, and FakeS3 (fixtures/fake-s3.ts) standing for Amazon S3
 * (the real @aws-sdk/client-s3 talks to it, signed with host credentials from
 * the daemon's environment). The task writes a 12 MiB file to /logs and ends;
 * the final upload goes in 5 MiB parts; the fake holds part 2, the daemon is
 * killed, a new daemon on the same state directory resumes the same multipart
 * upload: part 1 is not sent again, and the object is the file.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness } from '../harness/index.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { call } from '../../src/cli/client.js';
import { isComplete } from '../../src/logs/upload/upload-files.js';
import { FakeS3 } from './fixtures/fake-s3.js';

const MIB = 1024 * 1024;
const BUCKET = 'restart-logs';

const eventually = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

t.test('kill -9 of the executor mid-upload: the restarted executor resumes the multipart upload, sending no finished part again', { skip: needsBuild() }, async (t) => {
  const h = await useHarness(t);
  const s3 = new FakeS3();
  const s3Url = await s3.start();
  t.teardown(() => s3.stop());
  const dir = mkdtempSync(join(tmpdir(), 'titus-upload-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const serve = serveProcesses(
    t,
    dir,
    {
      executorId: `upload-restart-${h.runId}`,
      docker: { host: h.dockerHost },
      logUpload: {
        enabled: true,
        bucket: BUCKET,
        stack: 'prod',
        endpoint: s3Url,
        forcePathStyle: true,
        multipartThresholdBytes: 5 * MIB,
        partSizeBytes: 5 * MIB,
        scanIntervalSeconds: 0.5,
        requestMaxAttempts: 1,
        retry: { initialDelayMs: 200, maxDelayMs: 1000 },
      },
    },
    { AWS_ACCESS_KEY_ID: 'AKIDSERVEHOST', AWS_SECRET_ACCESS_KEY: 'host-secret', AWS_EC2_METADATA_DISABLED: 'true' },
  );
  const taskId = uniqueTaskId('upload-restart');
  const held = s3.holdPart(2);
  const first = await serve.start();
  await call(first.client.LaunchTask.bind(first.client), {
    taskId,
    containerInfo: {
      fullyQualifiedImage: h.images.busyboxRepo,
      process: { command: ['sh', '-c', 'dd if=/dev/urandom of=/logs/big.bin bs=1048576 count=12 2>/dev/null; echo done'] },
    },
  });
  await held;
  const key = `titan/prod/logs/${taskId}/big.bin`;
  t.equal(s3.callsOf('UploadPart').filter((c) => c.key === key && c.status === 200).length, 1, 'part 1 is up while part 2 is in flight');
  await first.crash();
  s3.release();

  const second = await serve.start();
  t.teardown(() => second.crash());
  const taskDir = join(dir, 'state', 'logs', taskId);
  await eventually('the upload to complete after the restart', () => isComplete(taskDir));
  const parts = s3.callsOf('UploadPart').filter((c) => c.key === key && c.status === 200);
  t.same(
    parts.map((c) => c.partNumber),
    [1, 2, 3],
    'each part up once: 1 before the kill, 2 and 3 after',
  );
  t.equal(s3.callsOf('CreateMultipartUpload').filter((c) => c.key === key).length, 1, 'the same multipart upload, resumed');
  t.ok(s3.object(BUCKET, key)?.body.equals(readFileSync(join(taskDir, 'files', 'big.bin'))), 'the object is the file the task wrote');
  t.equal(s3.object(BUCKET, `titan/prod/logs/${taskId}/stdout`)?.body.toString('utf8'), 'done\n');
  t.equal((await call(second.client.GetTask.bind(second.client), { taskId })).state, 'TASK_STATE_FINISHED');
});
