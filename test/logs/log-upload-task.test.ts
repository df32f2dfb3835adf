/**
 * Log upload end to end: a real executor in this process, real containers on
 * the harness engine (test/harness), and stand-ins for AWS on loopback:
 * FakeS3 (fixtures/fake-s3.ts) for Amazon S3 (REST wire format, path-style,
 * multipart) and FakeSts (../metadata-proxy/fixtures/fake-sts.ts) for AWS STS.
 * The executor talks to both through the real @aws-sdk clients, signing with
 * host credentials from the environment (the SDK's default chain).
 *
 * - a task's stdout, stderr and the files it wrote to /logs land under
 *   `titan/<stack>/logs/<taskId>/` after it ends, a large one in parts, as the
 *   writer role it named;
 * - a long-running task's rotated output and its due /logs files go up while
 *   it runs, and nothing is lost or repeated across the rotations.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { startUploadFakes } from './fixtures/upload-fakes.js';
import { isComplete } from '../../src/logs/upload/upload-files.js';

const HOST_KEY = 'AKIDTASKHOST';
const WRITER_ROLE = 'arn:aws:iam::123456789012:role/log-writer';
const BUCKET = 'fleet-logs';
const MIB = 1024 * 1024;

// The host's credentials, as the SDK's default chain finds them on a host (this test process only).
process.env['AWS_ACCESS_KEY_ID'] = HOST_KEY;
process.env['AWS_SECRET_ACCESS_KEY'] = 'host-secret';
process.env['AWS_EC2_METADATA_DISABLED'] = 'true';

const eventually = async (what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

t.test('log upload', async (t) => {
  const h: Harness = await useHarness(t);
  const { s3, sts, s3Url, stsUrl } = await startUploadFakes(t, HOST_KEY, WRITER_ROLE);
  const stateDir = mkdtempSync(join(tmpdir(), 'titus-logupload-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const ex = await startTestExecutor(t, h, {
    stateDir,
    logs: { maxFileBytes: 4096, maxFiles: 2 },
    logUpload: {
      enabled: true,
      bucket: BUCKET,
      stack: 'prod',
      endpoint: s3Url,
      forcePathStyle: true,
      sts: { endpoint: stsUrl },
      multipartThresholdBytes: 5 * MIB,
      partSizeBytes: 5 * MIB,
      scanIntervalSeconds: 0.3,
      uploadThresholdSeconds: 0,
      requestMaxAttempts: 1,
      retry: { initialDelayMs: 100, maxDelayMs: 1000 },
    },
  });
  t.teardown(() => ex.stop());
  const image = h.images.busyboxRepo;
  const taskDir = (taskId: string): string => join(stateDir, 'logs', taskId);
  const text = (key: string): string => s3.object(BUCKET, key)?.body.toString('utf8') ?? '';
  const lines = (prefix: string, stream: string): string[] =>
    [...s3.keys(BUCKET).filter((k) => k.startsWith(`${prefix}${stream}.`)), `${prefix}${stream}`]
      .map(text)
      .join('')
      .split('\n')
      .filter((l) => l !== '');

  await t.test("after the task ends: stdout, stderr and its /logs files under Titus' keys, a large file in parts, as the writer role", async (t) => {
    const taskId = uniqueTaskId('upload-end');
    const script = [
      'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo out$i; echo err$i >&2; done',
      'echo custom > /logs/custom.txt',
      'mkdir -p /logs/sub && echo nested > /logs/sub/nested.txt',
      'dd if=/dev/urandom of=/logs/big.bin bs=1048576 count=6 2>/dev/null',
    ].join('; ');
    const updates = await ex.run({
      taskId,
      containerInfo: {
        fullyQualifiedImage: image,
        process: { command: ['sh', '-c', script] },
        logUploadRegexp: '\\.txt$',
        passthroughAttributes: { 'titusParameter.agent.log.s3WriterRole': WRITER_ROLE, 'titusParameter.agent.log.s3PathPrefix': 'team-a' },
      },
    });
    t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED');
    await eventually('the upload to complete', () => isComplete(taskDir(taskId)));
    const prefix = `team-a/titan/prod/logs/${taskId}/`;
    t.same(lines(prefix, 'stdout'), Array.from({ length: 40 }, (_, i) => `out${i + 1}`), 'stdout, every line once, in order');
    t.same(lines(prefix, 'stderr'), Array.from({ length: 40 }, (_, i) => `err${i + 1}`), 'stderr, every line once, in order');
    t.equal(text(`${prefix}custom.txt`), 'custom\n', '/logs is the task log directory, and its files go up');
    t.equal(text(`${prefix}sub/nested.txt`), 'nested\n');
    const big = s3.object(BUCKET, `${prefix}big.bin`);
    t.equal(big?.multipart, true, 'a 6 MiB file goes multipart');
    t.equal(big?.parts, 2);
    t.ok(big?.body.equals(readFileSync(join(taskDir(taskId), 'files', 'big.bin'))), 'byte for byte the file the task wrote');
    const role = sts.calls.filter((c) => c.sessionName === `titus-${taskId}`);
    t.equal(role.length, 1, 'the writer role assumed once, session titus-<taskId>');
    t.equal(role[0]?.roleArn, WRITER_ROLE);
    const issued = sts.latestFor(`titus-${taskId}`);
    t.ok(
      s3.calls.filter((c) => c.key.startsWith(prefix)).every((c) => c.accessKeyId === issued?.accessKeyId),
      "every upload of the task signed with the role's credentials",
    );
  });

  await t.test('while the task runs: rotated output and due /logs files go up; killed, the rest follows', async (t) => {
    const taskId = uniqueTaskId('upload-running');
    const script = [
      'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "line $i of the running task, long enough to rotate often"; done',
      'echo rotated-by-app > /logs/app-1.log',
      'sleep 300',
    ].join('; ');
    await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: image, process: { command: ['sh', '-c', script] } } });
    await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
    const prefix = `titan/prod/logs/${taskId}/`;
    await eventually('rotated output and the app file uploaded', () =>
      s3.keys(BUCKET).some((k) => k.startsWith(`${prefix}stdout.`)) && s3.object(BUCKET, `${prefix}app-1.log`) !== undefined,
    );
    t.equal((await ex.get(taskId)).state, 'TASK_STATE_RUNNING', 'uploaded while the task runs');
    t.equal(text(`${prefix}app-1.log`), 'rotated-by-app\n');
    await eventually('the uploaded app file removed from the host', () => !existsSync(join(taskDir(taskId), 'files', 'app-1.log')));
    t.notOk(s3.object(BUCKET, `${prefix}stdout`), 'the last output file waits for the end');

    await ex.kill(taskId, 1);
    await ex.waitForState(taskId, 'TASK_STATE_KILLED');
    await eventually('the upload to complete', () => isComplete(taskDir(taskId)));
    t.same(
      lines(prefix, 'stdout'),
      Array.from({ length: 300 }, (_, i) => `line ${i + 1} of the running task, long enough to rotate often`),
      'every line once, in order, over the rotated segments and the last file (rotation dropped files along the way)',
    );
    t.ok(s3.calls.every((c) => c.key.startsWith(prefix) ? c.accessKeyId === HOST_KEY : true), 'no role named: signed with the host credentials');
  });
});
