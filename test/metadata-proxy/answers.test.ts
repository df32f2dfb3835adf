/**
 * What a task reads, and the pure pieces (path parsing, addresses, names,
 * config). The proxy runs on loopback with fake STS and a fake host IMDS
 * (which stands for 169.254.169.254 and serves the host's placement).
 */
import t from 'tap';
import { canonicalAddress } from '../../src/metadata-proxy/addresses.js';
import { parseMetadataProxyConfig } from '../../src/metadata-proxy/config.js';
import { parseRequestPath } from '../../src/metadata-proxy/request-path.js';
import { roleNameOf, sessionNameFor } from '../../src/metadata-proxy/sts-assumer.js';
import { InMemoryTaskDirectory } from '../../src/metadata-proxy/task-directory.js';
import { assertNoLeaks, FakeClock, startProxyHarness, taskInfo, TASK_A, TASK_B } from './fixtures/proxy-harness.js';

t.test('the IMDS tree a task sees', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A] });
  const get = async (path: string) => {
    const a = await h.request(TASK_A.address, 'GET', path);
    return { status: a.status, body: a.body.toString(), headers: a.headers };
  };
  const root = await get('/latest/');
  t.equal(root.body, 'dynamic\nmeta-data');
  t.equal(root.headers['server'], 'EC2ws');
  t.equal((await get('/')).body, 'latest');
  t.equal((await get('/latest/meta-data/')).body, 'hostname\niam/\ninstance-id\nlocal-hostname\nlocal-ipv4\nmac\nplacement/');
  t.equal((await get('/latest/meta-data')).body, (await get('/latest/meta-data/')).body, 'a directory without its slash lists too');
  t.equal((await get('/latest/meta-data/instance-id')).body, TASK_A.taskId);
  t.equal((await get('/latest/meta-data/instance-id/')).body, TASK_A.taskId);
  t.equal((await get('/latest/meta-data/local-ipv4')).body, TASK_A.address);
  t.equal((await get('/latest/meta-data/mac')).body, '0e:00:00:00:00:02');
  t.equal((await get('/latest/meta-data/iam/')).body, 'info\nsecurity-credentials/');
  t.equal((await get('/latest/meta-data/iam/security-credentials/')).body, 'alpha-role');
  const info = JSON.parse((await get('/latest/meta-data/iam/info')).body) as Record<string, string>;
  t.equal(info['Code'], 'Success');
  t.equal(info['InstanceProfileArn'], TASK_A.roleArn);
  t.match(info['InstanceProfileId'], /^AROA/);
  const creds = JSON.parse((await get('/latest/meta-data/iam/security-credentials/alpha-role')).body) as Record<string, string>;
  t.same(Object.keys(creds), ['Code', 'LastUpdated', 'Type', 'AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration']);
  t.equal(creds['Type'], 'AWS-HMAC');
  t.match(creds['Expiration'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // Placement: the host's, read once from the upstream IMDS.
  t.equal((await get('/latest/meta-data/placement/region')).body, 'eu-test-1');
  t.equal((await get('/latest/meta-data/placement/availability-zone')).body, 'eu-test-1b');
  t.equal((await get('/latest/meta-data/placement/availability-zone-id')).body, 'eut1-az2');
  await get('/latest/meta-data/placement/region');
  t.equal(h.imds.requests.filter((r) => r.endsWith('/placement/region')).length, 1, 'cached');

  const doc = JSON.parse((await get('/latest/dynamic/instance-identity/document')).body) as Record<string, unknown>;
  t.match(doc, { instanceId: TASK_A.taskId, privateIp: TASK_A.address, region: 'eu-test-1', availabilityZone: 'eu-test-1b', accountId: '111122223333', version: '2017-09-30' });

  // Version prefixes.
  t.equal((await get('/2016-09-02/meta-data/instance-id')).body, TASK_A.taskId);
  t.equal((await get('/1.0/meta-data/instance-id')).body, TASK_A.taskId);
  t.equal((await get('/20160902/meta-data/instance-id')).status, 404);
  t.equal((await get('/LATEST/meta-data/instance-id')).status, 404);

  // Refused on purpose, or unknown.
  for (const p of ['/latest/user-data', '/latest/meta-data/identity-credentials', '/latest/meta-data/public-keys', '/latest/dynamic/instance-identity/pkcs7', '/latest/meta-data/iam/policy', '/latest/meta-data/public-keys/0/openssh-key']) {
    t.equal((await get(p)).status, 403, p);
  }
  for (const p of ['/latest/meta-data/ami-id', '/latest/meta-data/iam/security-credentials/host-instance-role', '/latest/meta-data/iam/security-credentials/alpha-role/x', '/latest/meta-data/instance-id/x', '/other']) {
    t.equal((await get(p)).status, 404, p);
  }
  const head = await h.request(TASK_A.address, 'HEAD', '/latest/meta-data/instance-id');
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  t.equal(head.headers['content-length'], String(TASK_A.taskId.length));
  assertNoLeaks(t, h);
});

t.test('task-specific placement and IPv6 win; an upstream outage is a 503', async (t) => {
  const h = await startProxyHarness(t);
  h.directory.attachTask({ ...taskInfo(TASK_B, h.clock), ipv6Address: 'FD00:7175::0:B', region: 'us-west-2', availabilityZone: 'us-west-2c' });
  h.sts.setRole(TASK_B.roleArn, 'ok');
  const get = async (path: string) => (await h.request(TASK_B.address, 'GET', path)).body.toString();
  t.equal(await get('/latest/meta-data/placement/region'), 'us-west-2');
  t.equal(await get('/latest/meta-data/placement/availability-zone'), 'us-west-2c');
  t.equal(await get('/latest/meta-data/ipv6'), 'fd00:7175::b');
  t.equal(await get('/latest/meta-data/iam/security-credentials/'), 'bravo-role', 'the role name is the last part of a role path');
  h.imds.failing = true;
  t.equal((await h.request(TASK_B.address, 'GET', '/latest/meta-data/placement/availability-zone-id')).status, 503);
  h.imds.failing = false;
  t.equal(await get('/latest/meta-data/placement/availability-zone-id'), 'eut1-az2', 'a failure is not cached');
  assertNoLeaks(t, h);
});

t.test('request paths are parsed strictly', async (t) => {
  const ok = (p: string) => {
    const r = parseRequestPath(p);
    return r.ok ? [...r.path.segments, r.path.trailingSlash ? '/' : ''] : undefined;
  };
  t.same(ok('/'), ['/']);
  t.same(ok('/latest'), ['latest', '']);
  t.same(ok('/latest/meta-data/'), ['latest', 'meta-data', '/']);
  t.same(ok('/latest/meta-data/iam/security-credentials/role+=,.@-_x'), ['latest', 'meta-data', 'iam', 'security-credentials', 'role+=,.@-_x', '']);
  t.same(ok('/latest/meta-data/network/interfaces/macs/0e:00:00:00:00:02/'), ['latest', 'meta-data', 'network', 'interfaces', 'macs', '0e:00:00:00:00:02', '/']);
  for (const bad of ['', 'latest', '//latest', '/latest//x', '/./latest', '/latest/..', '/latest/../x', '/%2e%2e/x', '/latest%2fx', '/a?b', '/a#b', '/a\\b', '/a b', '/a;b', '/\u00e9', 'http://x/latest', '*', `/${'a'.repeat(600)}`]) {
    t.equal(parseRequestPath(bad).ok, false, JSON.stringify(bad.slice(0, 40)));
  }
});

t.test('peer addresses are canonical', async (t) => {
  t.equal(canonicalAddress('127.0.0.2'), '127.0.0.2');
  t.equal(canonicalAddress('::ffff:127.0.0.2'), '127.0.0.2');
  t.equal(canonicalAddress('::FFFF:7f00:2'), '127.0.0.2');
  t.equal(canonicalAddress('FD00:EC2:0:0::254'), 'fd00:ec2::254');
  t.equal(canonicalAddress('fe80::1%eth0'), undefined);
  t.equal(canonicalAddress('localhost'), undefined);
  t.equal(canonicalAddress(undefined), undefined);
});

t.test('the directory gives an address to one task only', async (t) => {
  const d = new InMemoryTaskDirectory();
  const clock = new FakeClock();
  const seen: string[] = [];
  d.onChange({ attached: (x) => seen.push(`+${x.taskId}`), detached: (id) => seen.push(`-${id}`) });
  d.attachTask(taskInfo(TASK_A, clock));
  t.equal(d.taskByAddress('::ffff:127.0.0.2')?.taskId, TASK_A.taskId);
  t.throws(() => d.attachTask(taskInfo({ ...TASK_B, address: TASK_A.address }, clock)), { name: 'ExecutorError', code: 'ALREADY_EXISTS' });
  t.throws(() => d.attachTask({ ...taskInfo(TASK_B, clock), ipv4Address: 'nonsense' }), { name: 'ExecutorError', code: 'INVALID_ARGUMENT' });
  const { ipv4Address: _dropped, ...noAddress } = taskInfo(TASK_B, clock);
  t.throws(() => d.attachTask(noAddress), { name: 'ExecutorError', code: 'INVALID_ARGUMENT' });
  d.attachTask(taskInfo({ ...TASK_A, address: '127.0.0.7' }, clock));
  t.equal(d.taskByAddress('127.0.0.2'), undefined, 're-attaching moves the task to its new address');
  t.equal(d.taskByAddress('127.0.0.7')?.taskId, TASK_A.taskId);
  d.detachTask(TASK_A.taskId);
  d.detachTask(TASK_A.taskId);
  t.equal(d.taskByAddress('127.0.0.7'), undefined);
  t.same(seen, [`+${TASK_A.taskId}`, `+${TASK_A.taskId}`, `-${TASK_A.taskId}`]);
});

t.test('STS session and role names', async (t) => {
  t.equal(sessionNameFor('b7a1c5e2-4d7c-4a3e-9d7e-000000000001'), 'titus-b7a1c5e2-4d7c-4a3e-9d7e-000000000001');
  t.equal(sessionNameFor('task/with spaces:and*stars'), 'titus-task_with_spaces_and_stars');
  t.equal(sessionNameFor('x'.repeat(100)).length, 64);
  t.equal(roleNameOf('arn:aws:iam::123456789012:role/a/b/c-role'), 'c-role');
  t.equal(roleNameOf('arn:aws:iam::123456789012:role/plain'), 'plain');
});

t.test('config: AWS defaults, strict keys', async (t) => {
  const c = parseMetadataProxyConfig({});
  t.match(c, { enabled: false, listen: { hosts: ['0.0.0.0'], port: 8169 }, requireToken: false, upstream: { url: 'http://169.254.169.254' } });
  t.match(c.sts, { durationSeconds: 3600, refreshBeforeExpirySeconds: 900, retryIntervalSeconds: 10 });
  t.equal(c.sts.endpoint, undefined);
  t.throws(() => parseMetadataProxyConfig({ bogus: 1 }));
  t.throws(() => parseMetadataProxyConfig({ upstream: { url: 'file:///etc/passwd' } }));
  t.throws(() => parseMetadataProxyConfig({ listen: { hosts: ['not-an-ip'] } }));
  t.throws(() => parseMetadataProxyConfig({ sts: { durationSeconds: 60 } }));
});
