/**
 * Role credentials over time: the fake STS (loopback, real SDK in the proxy)
 * issues 15-minute credentials and a fake clock moves time; each step runs
 * one pass of the proxy's background refresh, as its timer would.
 */
import t from 'tap';
import { assertNoLeaks, startProxyHarness, TASK_A, TASK_B, type ProxyHarness } from './fixtures/proxy-harness.js';
import { sdkCredentialsFrom } from './fixtures/sdk-client.js';

const PATH_A = '/latest/meta-data/iam/security-credentials/alpha-role';

interface CredentialsDoc {
  readonly Code: string;
  readonly AccessKeyId?: string;
  readonly Expiration?: string;
  readonly LastUpdated: string;
  readonly Message?: string;
}

const read = async (h: ProxyHarness, from: string, path: string): Promise<CredentialsDoc> => {
  const a = await h.request(from, 'GET', path);
  if (a.status !== 200) throw new Error(`HTTP ${a.status}`);
  return JSON.parse(a.body.toString()) as CredentialsDoc;
};

t.test('credentials are refreshed before expiry, with no gap, and recover after STS failures', async (t) => {
  const h = await startProxyHarness(t, { lifetimeSeconds: 900, config: { sts: { refreshBeforeExpirySeconds: 300, retryIntervalSeconds: 10 } } });
  h.attach(TASK_A);
  const first = await read(h, TASK_A.address, PATH_A);
  t.equal(first.Code, 'Success');
  t.equal(h.sts.calls.length, 1);

  // Half-life (450 s) comes before "300 s left": nothing at 440 s, a refresh at 450 s.
  h.clock.advance(440_000);
  await h.proxy.refreshCredentials();
  t.equal(h.sts.calls.length, 1, 'not yet due at 440 s');
  t.equal((await read(h, TASK_A.address, PATH_A)).AccessKeyId, first.AccessKeyId);
  h.clock.advance(10_000);
  await h.proxy.refreshCredentials();
  t.equal(h.sts.calls.length, 2, 'refreshed at half-life');
  const second = await read(h, TASK_A.address, PATH_A);
  t.not(second.AccessKeyId, first.AccessKeyId, 'new credentials are served right away');

  // Two hours in 20 s steps: at every moment the served credentials have at least 5 minutes left.
  let minimumLeftMs = Infinity;
  const codes = new Set<string>();
  for (let step = 0; step < 360; step++) {
    h.clock.advance(20_000);
    await h.proxy.refreshCredentials();
    const doc = await read(h, TASK_A.address, PATH_A);
    codes.add(doc.Code);
    minimumLeftMs = Math.min(minimumLeftMs, Date.parse(doc.Expiration ?? '') - h.clock.now());
  }
  t.same([...codes], ['Success'], 'every read succeeded');
  t.ok(minimumLeftMs >= 300_000, `served credentials always had >= 5 min left (minimum ${minimumLeftMs / 1000} s)`);
  const refreshes = h.sts.calls.length;
  t.ok(refreshes >= 2 + 15 && refreshes <= 2 + 17, `about one AssumeRole per 450 s (${refreshes - 2} in 2 h)`);

  // STS fails: the old credentials are served until they expire, retried every 10 s, reported once.
  h.sts.setRole(TASK_A.roleArn, { status: 500, code: 'InternalFailure', message: 'STS is having a bad day' });
  const beforeOutage = await read(h, TASK_A.address, PATH_A);
  const expiresAt = Date.parse(beforeOutage.Expiration ?? '');
  const outageStartMs = h.clock.now();
  let callsDuringOutage = h.sts.calls.length;
  const servedDuringOutage = new Set<string | undefined>();
  while (h.clock.now() < expiresAt - 1_000) {
    h.clock.advance(1_000);
    await h.proxy.refreshCredentials();
    servedDuringOutage.add((await read(h, TASK_A.address, PATH_A)).AccessKeyId);
  }
  t.same([...servedDuringOutage], [beforeOutage.AccessKeyId], 'the last good credentials are served until they expire');
  callsDuringOutage = h.sts.calls.length - callsDuringOutage;
  // Tries start when the refresh is due (450 s before expiry), then every 10 s.
  const triedForMs = Math.min(expiresAt - outageStartMs, 450_000);
  t.ok(Math.abs(callsDuringOutage - triedForMs / 10_000) <= 2, `retried every 10 s (${callsDuringOutage} tries in ${triedForMs / 1000} s)`);
  t.equal(h.credentialErrors.length, 1, 'the failure is reported once');
  t.match(h.credentialErrors[0]?.[1], /InternalFailure/);

  h.clock.advance(2_000);
  await h.proxy.refreshCredentials();
  const failed = await read(h, TASK_A.address, PATH_A);
  t.equal(failed.Code, 'AssumeRoleFailed', 'expired and not renewed: an IMDS error document');
  t.notOk(failed.AccessKeyId);
  await t.rejects(sdkCredentialsFrom(h.endpoint, TASK_A.address), /Invalid response received/, 'the SDK fails clearly');

  // STS is back: the next retry recovers.
  h.sts.setRole(TASK_A.roleArn, 'ok');
  h.clock.advance(10_000);
  await h.proxy.refreshCredentials();
  const recovered = await read(h, TASK_A.address, PATH_A);
  t.equal(recovered.Code, 'Success');
  t.same(h.recovered, [TASK_A.taskId], 'recovery is reported');
  const sdk = await sdkCredentialsFrom(h.endpoint, TASK_A.address);
  t.equal(sdk.accessKeyId, recovered.AccessKeyId);
  assertNoLeaks(t, h);
});

t.test('a request arriving before the first AssumeRole answers waits a little, then 503', async (t) => {
  const h = await startProxyHarness(t, { config: { sts: { firstCredentialsWaitMs: 200 } } });
  h.sts.delayMs = 800;
  h.attach(TASK_A);
  const started = Date.now();
  const early = await h.request(TASK_A.address, 'GET', PATH_A);
  t.equal(early.status, 503);
  t.ok(Date.now() - started < 700, 'bounded wait');
  await new Promise((r) => setTimeout(r, 900));
  t.equal((await read(h, TASK_A.address, PATH_A)).Code, 'Success');
  t.equal(h.sts.calls.length, 1, 'the waiting request did not start a second AssumeRole');
  assertNoLeaks(t, h);
});

t.test('a detached task\'s credentials are dropped and never refreshed again', async (t) => {
  const h = await startProxyHarness(t, { lifetimeSeconds: 900 });
  h.attach(TASK_A);
  h.attach(TASK_B);
  await read(h, TASK_A.address, PATH_A);
  await read(h, TASK_B.address, '/latest/meta-data/iam/security-credentials/bravo-role');
  h.directory.detachTask(TASK_B.taskId);
  h.clock.advance(899_000);
  await h.proxy.refreshCredentials();
  t.equal(h.sts.calls.filter((c) => c.roleArn === TASK_B.roleArn).length, 1, 'B was assumed once and not refreshed after detach');
  t.equal(h.sts.calls.filter((c) => c.roleArn === TASK_A.roleArn).length, 2, 'A was refreshed');
  t.equal((await h.request(TASK_B.address, 'GET', '/latest/meta-data/iam/security-credentials/bravo-role')).status, 403);
  assertNoLeaks(t, h);
});
