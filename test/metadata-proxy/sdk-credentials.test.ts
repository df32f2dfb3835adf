/**
 * The real AWS SDK for JavaScript as each task's IMDS client, the proxy in
 * front of a fake STS (real @aws-sdk/client-sts on the proxy side) and a fake
 * host IMDS. Loopback source addresses stand for task IPs.
 */
import t from 'tap';
import { assertNoLeaks, HOST_STATIC_CREDENTIALS, startProxyHarness, TASK_A, TASK_B } from './fixtures/proxy-harness.js';
import { sdkCredentialsFrom } from './fixtures/sdk-client.js';

t.test('two tasks with different roles each get their own role credentials through IMDSv2', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A, TASK_B], config: { requireToken: true } });
  const a = await sdkCredentialsFrom(h.endpoint, TASK_A.address, { ec2MetadataV1Disabled: true });
  const b = await sdkCredentialsFrom(h.endpoint, TASK_B.address, { ec2MetadataV1Disabled: true });
  const issuedA = h.sts.latestFor(`titus-${TASK_A.taskId}`);
  const issuedB = h.sts.latestFor(`titus-${TASK_B.taskId}`);
  t.ok(issuedA && issuedB, 'STS issued credentials for both task sessions');
  t.same(a, { accessKeyId: issuedA?.accessKeyId, secretAccessKey: issuedA?.secretAccessKey, sessionToken: issuedA?.sessionToken, expiration: new Date(issuedA?.expirationMs ?? 0) });
  t.same(b, { accessKeyId: issuedB?.accessKeyId, secretAccessKey: issuedB?.secretAccessKey, sessionToken: issuedB?.sessionToken, expiration: new Date(issuedB?.expirationMs ?? 0) });
  t.not(a.accessKeyId, b.accessKeyId);

  // What STS saw: the task's role, a session named after the task, 1 h, signed with the host's key.
  t.same(
    h.sts.calls.map((c) => [c.roleArn, c.sessionName, c.durationSeconds, c.signedWithAccessKey]).sort(),
    [
      [TASK_A.roleArn, `titus-${TASK_A.taskId}`, 3600, HOST_STATIC_CREDENTIALS.accessKeyId],
      [TASK_B.roleArn, `titus-${TASK_B.taskId}`, 3600, HOST_STATIC_CREDENTIALS.accessKeyId],
    ],
    'one AssumeRole per task (assumed at attach, then served from cache)',
  );
  // Served from cache: more reads, no more STS calls.
  await sdkCredentialsFrom(h.endpoint, TASK_A.address);
  t.equal(h.sts.calls.length, 2);
  for (const [from, roleName] of [[TASK_A.address, 'alpha-role'], [TASK_B.address, 'bravo-role']] as const) {
    const tok = await h.token(from);
    const listing = await h.request(from, 'GET', '/latest/meta-data/iam/security-credentials/', { 'X-aws-ec2-metadata-token': tok });
    t.equal(listing.body.toString(), roleName, `${from} lists only its own role`);
  }
  assertNoLeaks(t, h);
});

t.test('IMDSv1 works when tokens are not required, and the SDK falls back to it only then', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A] });
  const a = await sdkCredentialsFrom(h.endpoint, TASK_A.address);
  t.equal(a.accessKeyId, h.sts.latestFor(`titus-${TASK_A.taskId}`)?.accessKeyId);
  const v1 = await h.request(TASK_A.address, 'GET', '/latest/meta-data/iam/security-credentials/alpha-role');
  t.equal(v1.status, 200);
  t.equal(JSON.parse(v1.body.toString()).Code, 'Success');
  assertNoLeaks(t, h);
});

t.test('a role that cannot be assumed fails the SDK clearly and quickly, and is reported', async (t) => {
  const h = await startProxyHarness(t);
  const denied = { taskId: 'task-denied-0003', address: '127.0.0.4', roleArn: 'arn:aws:iam::111122223333:role/not-trusted' };
  h.directory.attachTask({ ...h.attach({ taskId: denied.taskId, address: denied.address }), iamRoleArn: denied.roleArn });
  const started = Date.now();
  await t.rejects(sdkCredentialsFrom(h.endpoint, denied.address), /Invalid response received from instance metadata service/);
  t.ok(Date.now() - started < 3_000, 'no hang');
  const tok = await h.token(denied.address);
  const doc = await h.request(denied.address, 'GET', '/latest/meta-data/iam/security-credentials/not-trusted', { 'X-aws-ec2-metadata-token': tok });
  t.equal(doc.status, 200, 'IMDS shape: 200 with Code other than Success');
  const body = JSON.parse(doc.body.toString()) as Record<string, unknown>;
  t.equal(body['Code'], 'AssumeRoleUnauthorizedAccess');
  t.match(body['Message'], /AccessDenied/);
  t.notOk('AccessKeyId' in body);
  const info = await h.request(denied.address, 'GET', '/latest/meta-data/iam/info', { 'X-aws-ec2-metadata-token': tok });
  t.equal(JSON.parse(info.body.toString()).Code, 'AssumeRoleUnauthorizedAccess');
  t.equal(h.credentialErrors.length, 1, 'reported once, not per request');
  t.equal(h.credentialErrors[0]?.[0], denied.taskId);
  t.match(h.credentialErrors[0]?.[1], /cannot assume IAM role arn:aws:iam::111122223333:role\/not-trusted: AssumeRole failed: AccessDenied/);
  assertNoLeaks(t, h);
});

t.test('a task without a role has no iam/ and the SDK gets no credentials (never the host\'s)', async (t) => {
  const h = await startProxyHarness(t, { tasks: [{ taskId: 'task-norole-0004', address: '127.0.0.5' }] });
  await t.rejects(sdkCredentialsFrom(h.endpoint, '127.0.0.5'), /Error response received from instance metadata service/);
  const listing = await h.request('127.0.0.5', 'GET', '/latest/meta-data/');
  t.notMatch(listing.body.toString(), /iam/);
  t.equal((await h.request('127.0.0.5', 'GET', '/latest/meta-data/iam/security-credentials/')).status, 404);
  t.equal(h.sts.calls.length, 0);
  assertNoLeaks(t, h);
});

t.test('the host itself (or any address not in the directory) gets nothing', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A] });
  await t.rejects(sdkCredentialsFrom(h.endpoint, '127.0.0.1'), /instance metadata service/);
  const a = await h.request('127.0.0.1', 'GET', '/latest/meta-data/instance-id');
  t.equal(a.status, 403);
  t.equal((await h.request('127.0.0.9', 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' })).status, 403);
  assertNoLeaks(t, h);
});
