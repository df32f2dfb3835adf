/**
 * Pulls from a private registry that requires basic auth: Debian's
 * docker-registry with a bcrypt htpasswd file (test/harness/auth-registry.ts),
 * through the real engine. Credentials come from the executor's auths file
 * (re-read at every pull), a docker-credential-<name> helper, or ECR (the real
 * @aws-sdk/client-ecr against a fake ECR speaking the wire format, whose token
 * is the registry's password). The executor's whole log is captured and must
 * never hold a secret.
 */
import t from 'tap';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/common/log.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import { useHarness, type Harness } from '../harness/index.js';
import { startAuthRegistry, type AuthRegistry } from '../harness/auth-registry.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { FakeEcr } from './fixtures/fake-ecr.js';

const ACCESS_KEY = 'AKIDREGISTRYTEST';
const SECRET_KEY = 'host-secret-key-for-signing';
// The executor's own AWS credentials, through the SDK's default chain (env first).
process.env['AWS_ACCESS_KEY_ID'] = ACCESS_KEY;
process.env['AWS_SECRET_ACCESS_KEY'] = SECRET_KEY;
process.env['AWS_EC2_METADATA_DISABLED'] = 'true';

/** Everything the executor logs, as text. */
const captureLog = (): { log: ReturnType<typeof createLogger>; text: () => string } => {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { log: createLogger('trace', stream), text: () => chunks.join('') };
};

const last = (u: TaskStatusUpdate__Output[]): TaskStatusUpdate__Output => u[u.length - 1] as TaskStatusUpdate__Output;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

let h: Harness;
let reg: AuthRegistry;
let dir: string;
let fileEx: TestExecutor;
let ecrEx: TestExecutor;
let ecr: FakeEcr;
const logs: Array<() => string> = [];
const authsFile = (): string => join(dir, 'config.json');
const writeAuths = (config: unknown): Promise<void> => writeFile(authsFile(), JSON.stringify(config), { mode: 0o600 });

t.before(async () => {
  h = await useHarness(t);
  // User AWS: ECR's tokens are AWS:<password>, and the fake ECR's password is this registry's.
  reg = await startAuthRegistry(h, 'AWS');
  t.teardown(() => reg.stop());
  dir = await mkdtemp(join(tmpdir(), 'titus-regauth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeAuths({ auths: {} });
  await mkdir(join(dir, 'bin'));
  const fileLog = captureLog();
  logs.push(fileLog.text);
  fileEx = await startTestExecutor(
    t,
    h,
    // Five attempts with a long back-off: a refused login retried as if transient would take 30 s or more.
    { docker: { pullAttempts: 5, pullBackoffMs: 2000, auth: { authsFile: authsFile(), credentialHelperDirs: [join(dir, 'bin')] } } },
    [],
    fileLog.log,
  );
  ecr = new FakeEcr({ accessKeyId: ACCESS_KEY, password: reg.password, lifetimeSeconds: 12 * 3600 });
  const endpoint = await ecr.start();
  t.teardown(() => ecr.stop());
  const ecrLog = captureLog();
  logs.push(ecrLog.text);
  ecrEx = await startTestExecutor(
    t,
    h,
    { docker: { pullAttempts: 5, pullBackoffMs: 2000, auth: { ecr: { enabled: true, endpoint, aliases: { [reg.address]: 'us-west-2' } } } } },
    [],
    ecrLog.log,
  );
});

const run = async (ex: TestExecutor): Promise<{ end: TaskStatusUpdate__Output; all: TaskStatusUpdate__Output[]; ms: number }> => {
  const started = Date.now();
  const all = await ex.run({ taskId: uniqueTaskId('regauth'), containerInfo: { fullyQualifiedImage: reg.busyboxRepo, process: { command: ['true'] } } });
  return { end: last(all), all, ms: Date.now() - started };
};

const removeImage = (): Promise<unknown> => h.docker(['rmi', '-f', `${reg.busyboxRepo}:latest`], { allowFailure: true });

t.test('without credentials the pull fails once, with the registry reason in the status', async (t) => {
  await writeAuths({ auths: {} });
  const { end, ms } = await run(fileEx);
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.equal(end.reasonCode, 'failed');
  t.match(end.message, /Failed to pull the image/);
  // distribution's own words for a request without credentials.
  t.match(end.message, /no basic auth credentials|unauthorized|authentication required/i, end.message ?? '');
  t.notMatch(logs[0]?.() ?? '', /image pull failed; retrying/, 'a refused login is not retried');
  t.ok(ms < 20_000, `failed without back-off (${ms} ms)`);
});

t.test('a wrong password in the auths file fails with the registry reason, not retried', async (t) => {
  await writeAuths({ auths: { [reg.address]: { auth: b64(`${reg.username}:wrong-password`) } } });
  const { end } = await run(fileEx);
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.match(end.message, /unauthorized|authentication required|incorrect username or password/i, end.message ?? '');
  t.notMatch(logs[0]?.() ?? '', /image pull failed; retrying/, 'not retried');
});

t.test('with auths-file credentials (auth = base64 user:password) the task runs', async (t) => {
  await writeAuths({ auths: { [`http://${reg.address}`]: { auth: b64(`${reg.username}:${reg.password}`) } } });
  const { end } = await run(fileEx);
  t.equal(end.state, 'TASK_STATE_FINISHED', end.message ?? '');
  await removeImage();
});

t.test('with username/password in the auths file the task runs', async (t) => {
  await writeAuths({ auths: { [reg.address]: { username: reg.username, password: reg.password } } });
  const { end } = await run(fileEx);
  t.equal(end.state, 'TASK_STATE_FINISHED', end.message ?? '');
  await removeImage();
});

t.test('a credHelpers entry runs docker-credential-<name> get with the server on stdin', async (t) => {
  const asked = join(dir, 'helper-asked');
  const script = join(dir, 'bin', 'docker-credential-titustest');
  await writeFile(
    script,
    `#!/bin/sh\n[ "$1" = get ] || exit 3\ncat > '${asked}'\nprintf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' '${reg.address}' '${reg.username}' '${reg.password}'\n`,
  );
  await chmod(script, 0o700);
  await writeAuths({ credHelpers: { [reg.address]: 'titustest' } });
  const { end } = await run(fileEx);
  t.equal(end.state, 'TASK_STATE_FINISHED', end.message ?? '');
  t.equal(await readFile(asked, 'utf8'), reg.address, 'the helper was asked about the registry');
  await removeImage();
});

t.test('a credential helper that is missing fails the pull naming it', async (t) => {
  await writeAuths({ credHelpers: { [reg.address]: 'not-installed' } });
  const { end } = await run(fileEx);
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.match(end.message, /credential helper not-installed/);
});

t.test('ECR: the token from GetAuthorizationToken is used, cached, and fetched again once the registry refuses it', async (t) => {
  const calls = (): number => ecr.calls.length;
  ecr.o.password = 'not-the-registry-password';
  const refused = await run(ecrEx);
  t.equal(refused.end.state, 'TASK_STATE_FAILED');
  t.match(refused.end.message, /unauthorized|authentication required/i, refused.end.message ?? '');
  t.equal(calls(), 2, 'the refused token was dropped and one fresh token tried, no more (and dropped too)');
  ecr.o.password = reg.password;
  const first = await run(ecrEx);
  t.equal(first.end.state, 'TASK_STATE_FINISHED', first.end.message ?? '');
  t.equal(calls(), 3, 'no refused token was kept: a fresh one pulled');
  await removeImage();
  const second = await run(ecrEx);
  t.equal(second.end.state, 'TASK_STATE_FINISHED', second.end.message ?? '');
  await removeImage();
  t.equal(calls(), 3, 'the good token is cached: no call for the next pull');
  t.ok(ecr.calls.every((c) => c.signedWithAccessKey === ACCESS_KEY), "signed with the executor's own AWS credentials");
  t.ok(ecr.calls.every((c) => c.region === 'us-west-2'), "the alias's region");
});

t.test('no secret ever appears in the executor log', async (t) => {
  const text = logs.map((l) => l()).join('\n');
  t.ok(text.length > 0, 'something was logged');
  for (const secret of [reg.password, b64(`${reg.username}:${reg.password}`), b64(`AWS:${reg.password}`), b64('AWS:not-the-registry-password'), SECRET_KEY]) {
    t.notOk(text.includes(secret), 'secret absent from the log');
  }
});
