/**
 * IMDSv2 token rules against the proxy on loopback (fake STS and fake host
 * IMDS behind it; a fake clock stands for time passing).
 */
import t from 'tap';
import { assertNoLeaks, startProxyHarness, TASK_A, TASK_B } from './fixtures/proxy-harness.js';

const TTL = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN = 'X-aws-ec2-metadata-token';

t.test('token TTL must be 1..21600 whole seconds', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A] });
  const put = (headers: Record<string, string>) => h.request(TASK_A.address, 'PUT', '/latest/api/token', headers);
  for (const ttl of ['1', '60', '21600', ' 300 ']) {
    const a = await put({ [TTL]: ttl });
    t.equal(a.status, 200, `ttl ${JSON.stringify(ttl)} accepted`);
    t.equal(a.headers['x-aws-ec2-metadata-token-ttl-seconds'], ttl.trim(), 'the TTL is echoed');
    t.match(a.body.toString(), /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  }
  for (const ttl of ['0', '21601', '-1', '1.5', 'abc', '', '99999999', '0x10', '1e3']) {
    t.equal((await put({ [TTL]: ttl })).status, 400, `ttl ${JSON.stringify(ttl)} refused`);
  }
  t.equal((await put({})).status, 400, 'a missing TTL is refused');
  t.equal((await h.raw(TASK_A.address, `PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n${TTL}: 60\r\n${TTL}: 60\r\nConnection: close\r\n\r\n`)).status, 400, 'a repeated TTL header is refused');
  t.equal((await h.request(TASK_A.address, 'GET', '/latest/api/token')).status, 405, 'GET of the token path is not allowed');
  t.equal((await h.request(TASK_A.address, 'POST', '/latest/api/token', { [TTL]: '60' })).status, 405);
  t.equal((await h.request(TASK_A.address, 'PUT', '/2021-01-03/api/token', { [TTL]: '60' })).status, 405, 'tokens only under /latest');
  assertNoLeaks(t, h);
});

t.test('a token PUT carrying X-Forwarded-For is refused (SSRF defence)', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A] });
  for (const xff of ['1.2.3.4', TASK_A.address, '']) {
    const a = await h.raw(TASK_A.address, `PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n${TTL}: 60\r\nX-Forwarded-For: ${xff}\r\nConnection: close\r\n\r\n`);
    t.equal(a.status, 403, `X-Forwarded-For: ${JSON.stringify(xff)}`);
  }
  t.equal((await h.request(TASK_A.address, 'PUT', '/latest/api/token', { [TTL]: '60', 'X-Real-IP': '1.2.3.4' })).status, 200, 'other headers do not matter');
  assertNoLeaks(t, h);
});

t.test('tokens are bound to the task that got them, checked on every read, and expire', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A, TASK_B] });
  const get = (from: string, token?: string) => h.request(from, 'GET', '/latest/meta-data/instance-id', token === undefined ? {} : { [TOKEN]: token });
  const tokA = await h.token(TASK_A.address, 10);
  const ok = await get(TASK_A.address, tokA);
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), TASK_A.taskId);
  t.equal(ok.headers['x-aws-ec2-metadata-token-ttl-seconds'], '10', 'remaining TTL in the answer');

  t.equal((await get(TASK_B.address, tokA)).status, 401, "task A's token presented by task B");
  t.equal((await get(TASK_A.address, `${tokA}x`)).status, 401, 'altered token');
  t.equal((await get(TASK_A.address, tokA.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')))).status, 401, 'payload changed');
  t.equal((await get(TASK_A.address, 'garbage')).status, 401, 'garbage token');
  t.equal((await get(TASK_A.address, '')).status, 401, 'empty token');

  h.clock.advance(4_000);
  t.equal((await get(TASK_A.address, tokA)).headers['x-aws-ec2-metadata-token-ttl-seconds'], '6');
  h.clock.advance(6_000);
  t.equal((await get(TASK_A.address, tokA)).status, 401, 'expired at its TTL');
  t.equal((await get(TASK_A.address)).status, 200, 'no token and not required: IMDSv1 is allowed');

  // A detached task's address answers nothing, its tokens included.
  const tokB = await h.token(TASK_B.address);
  h.directory.detachTask(TASK_B.taskId);
  t.equal((await get(TASK_B.address, tokB)).status, 403);
  assertNoLeaks(t, h);
});

t.test('required tokens: host-wide setting, and per task', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A, { ...TASK_B, requireToken: true }] });
  const paths = ['/latest/meta-data/instance-id', '/latest/meta-data/iam/security-credentials/', '/1.0/meta-data/instance-id', '/2016-09-02/meta-data/', '/nflx/v1/task-identity', '/latest/'];
  for (const p of paths) {
    t.equal((await h.request(TASK_A.address, 'GET', p)).status, 200, `A (not required) reads ${p} without a token`);
    t.equal((await h.request(TASK_B.address, 'GET', p)).status, 401, `B (required) gets 401 for ${p} without a token`);
    const tok = await h.token(TASK_B.address);
    t.equal((await h.request(TASK_B.address, 'GET', p, { [TOKEN]: tok })).status, 200, `B reads ${p} with a token`);
  }

  const strict = await startProxyHarness(t, { tasks: [TASK_A, { ...TASK_B, requireToken: false }], config: { requireToken: true } });
  t.equal((await strict.request(TASK_A.address, 'GET', '/latest/meta-data/instance-id')).status, 401, 'host requires tokens');
  t.equal((await strict.request(TASK_A.address, 'HEAD', '/latest/meta-data/instance-id')).status, 401);
  t.equal((await strict.request(TASK_B.address, 'GET', '/latest/meta-data/instance-id')).status, 200, 'a task may opt out');
  const tok = await strict.token(TASK_A.address);
  t.equal((await strict.request(TASK_A.address, 'GET', '/latest/meta-data/instance-id', { [TOKEN]: tok })).status, 200);
  assertNoLeaks(t, h);
  assertNoLeaks(t, strict);
});
