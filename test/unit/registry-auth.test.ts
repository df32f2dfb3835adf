/**
 * The registry-credentials adapter without an engine: config.json lookup as
 * Docker does it, credential-helper answers, and ECR tokens through the real
 * @aws-sdk/client-ecr against the fake ECR (cached, refreshed before expiry,
 * AccessDenied not retried).
 */
import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryAuth, RegistryAuthError, ecrRegionOf, registryOf, registryAuthConfigSchema } from '../../src/runtime/registry-auth/index.js';
import { EcrTokenSource } from '../../src/runtime/registry-auth/ecr-token.js';
import { FakeEcr } from '../runtime/fixtures/fake-ecr.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const HOST_CREDS = { accessKeyId: 'AKIDUNIT', secretAccessKey: 'unit-secret' };

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'titus-regauth-unit-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

const authWith = async (config: unknown, extra: Record<string, unknown> = {}): Promise<RegistryAuth> => {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(config));
  return new RegistryAuth(registryAuthConfigSchema.parse({ authsFile: file, credentialHelperDirs: [dir], ...extra }));
};

t.test('registry host names as Docker derives them', async (t) => {
  t.equal(registryOf('busybox'), 'docker.io');
  t.equal(registryOf('library/busybox'), 'docker.io');
  t.equal(registryOf('index.docker.io/library/busybox'), 'docker.io');
  t.equal(registryOf('localhost/app'), 'localhost');
  t.equal(registryOf('127.0.0.1:5000/org/app'), '127.0.0.1:5000');
  t.equal(registryOf('123456789012.dkr.ecr.eu-west-1.amazonaws.com/app'), '123456789012.dkr.ecr.eu-west-1.amazonaws.com');
});

t.test("ECR's host names give their region; other hosts only through an alias", async (t) => {
  t.equal(ecrRegionOf('123456789012.dkr.ecr.eu-west-1.amazonaws.com', {}), 'eu-west-1');
  t.equal(ecrRegionOf('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', {}), 'us-gov-west-1');
  t.equal(ecrRegionOf('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', {}), 'cn-north-1');
  t.equal(ecrRegionOf('12345.dkr.ecr.eu-west-1.amazonaws.com', {}), undefined, 'an account id has 12 digits');
  t.equal(ecrRegionOf('registry.example.com', {}), undefined);
  t.equal(ecrRegionOf('registry.example.com', { 'registry.example.com': 'us-east-2' }), 'us-east-2');
});

t.test('auths entries: keys with scheme and path, auth, username/password, identitytoken', async (t) => {
  const auth = await authWith({
    auths: {
      'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
      'http://reg.example.com:5000/v2/': { username: 'u', password: 'p' },
      'tok.example.com': { identitytoken: 'refresh-token' },
    },
  });
  t.match(await auth.credentialsFor('library/busybox'), { username: 'hubuser', password: 'hubpass', serveraddress: 'docker.io' });
  t.match(await auth.credentialsFor('reg.example.com:5000/a/b'), { username: 'u', password: 'p', serveraddress: 'reg.example.com:5000' });
  t.match(await auth.credentialsFor('tok.example.com/x'), { identitytoken: 'refresh-token' });
  t.equal(await auth.credentialsFor('other.example.com/x'), undefined, 'nothing for another registry: anonymous');
});

t.test('a malformed auth value or file is a denied error that names no secret', async (t) => {
  const bad = await authWith({ auths: { 'reg.example.com': { auth: b64('no-colon-here') } } });
  const err = await bad.credentialsFor('reg.example.com/x').catch((e: unknown) => e);
  t.ok(err instanceof RegistryAuthError && err.denied, 'denied');
  t.notMatch((err as Error).message, /no-colon-here/);
  const file = join(dir, 'broken.json');
  await writeFile(file, '{"auths": {"reg": {"auth": 5}}}');
  const broken = new RegistryAuth(registryAuthConfigSchema.parse({ authsFile: file }));
  await t.rejects(broken.check(), /auths\.reg\.auth/);
});

t.test('credHelpers before credsStore before auths; "<token>" is an identity token; not found is anonymous', async (t) => {
  await writeFile(
    join(dir, 'docker-credential-unit'),
    '#!/bin/sh\nread server\ncase "$server" in\n  helper.example.com) echo \'{"ServerURL":"helper.example.com","Username":"hu","Secret":"hs"}\';;\n  token.example.com) echo \'{"ServerURL":"token.example.com","Username":"<token>","Secret":"idtok"}\';;\n  *) echo "credentials not found in native keychain"; exit 1;;\nesac\n',
  );
  await chmod(join(dir, 'docker-credential-unit'), 0o700);
  const auth = await authWith({
    credHelpers: { 'helper.example.com': 'unit', 'token.example.com': 'unit', 'none.example.com': 'unit' },
    auths: { 'helper.example.com': { username: 'file', password: 'file' } },
  });
  t.match(await auth.credentialsFor('helper.example.com/x'), { username: 'hu', password: 'hs', source: 'credential helper unit' });
  t.match(await auth.credentialsFor('token.example.com/x'), { identitytoken: 'idtok' });
  t.equal(await auth.credentialsFor('none.example.com/x'), undefined);
  const store = await authWith({ credsStore: 'unit', auths: { 'helper.example.com': { username: 'file', password: 'file' } } });
  t.match(await store.credentialsFor('helper.example.com/x'), { username: 'hu' }, 'credsStore wins over auths, as in Docker');
});

t.test('a helper that hangs is cut at its timeout', async (t) => {
  await writeFile(join(dir, 'docker-credential-slow'), '#!/bin/sh\nsleep 30\n');
  await chmod(join(dir, 'docker-credential-slow'), 0o700);
  const auth = await authWith({ credHelpers: { 'slow.example.com': 'slow' } }, { credentialHelperTimeoutMs: 300 });
  const started = Date.now();
  await t.rejects(auth.credentialsFor('slow.example.com/x'), /did not answer within 300 ms/);
  t.ok(Date.now() - started < 10_000);
});

t.test('ECR: one call per region, cached until shortly before expiry, then refreshed', async (t) => {
  const ecr = new FakeEcr({ accessKeyId: HOST_CREDS.accessKeyId, password: 'ecr-pass-1', lifetimeSeconds: 3600 });
  const endpoint = await ecr.start();
  t.teardown(() => ecr.stop());
  let now = Date.now();
  const source = new EcrTokenSource({
    endpoint,
    refreshBeforeExpiryMs: 600_000,
    requestTimeoutMs: 5000,
    maxAttempts: 1,
    clock: () => now,
    credentials: HOST_CREDS,
  });
  t.teardown(() => source.close());
  const host = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
  const [a, b] = await Promise.all([source.credentialsFor(host, 'us-east-1'), source.credentialsFor(host, 'us-east-1')]);
  t.match(a, { username: 'AWS', password: 'ecr-pass-1', serveraddress: host });
  t.same(b, a);
  t.equal(ecr.calls.length, 1, 'concurrent pulls share one call');
  t.equal(ecr.calls[0]?.target, 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken');
  t.equal(ecr.calls[0]?.contentType, 'application/x-amz-json-1.1');
  now += 2_000_000; // 33 min: still more than 10 min before the 60-min expiry
  await source.credentialsFor(host, 'us-east-1');
  t.equal(ecr.calls.length, 1, 'cached');
  ecr.o.password = 'ecr-pass-2';
  now += 1_100_000; // 51 min: inside the refresh margin
  t.match(await source.credentialsFor(host, 'us-east-1'), { password: 'ecr-pass-2' }, 'refreshed');
  t.equal(ecr.calls.length, 2);
  await source.credentialsFor('210987654321.dkr.ecr.eu-west-1.amazonaws.com', 'eu-west-1');
  t.equal(ecr.calls.length, 3, 'another region, another token');
  t.equal(ecr.calls[2]?.region, 'eu-west-1');
});

t.test('ECR AccessDenied is a denied error (not retried), with ECR words and no secret', async (t) => {
  const ecr = new FakeEcr({ accessKeyId: HOST_CREDS.accessKeyId, password: 'x', lifetimeSeconds: 3600, deny: true });
  const endpoint = await ecr.start();
  t.teardown(() => ecr.stop());
  const source = new EcrTokenSource({ endpoint, refreshBeforeExpiryMs: 0, requestTimeoutMs: 5000, maxAttempts: 3, credentials: HOST_CREDS });
  t.teardown(() => source.close());
  const err = await source.credentialsFor('123456789012.dkr.ecr.us-east-1.amazonaws.com', 'us-east-1').catch((e: unknown) => e);
  t.ok(err instanceof RegistryAuthError && err.denied, 'denied');
  t.match((err as Error).message, /AccessDeniedException: User is not authorized/);
  t.notMatch((err as Error).message, new RegExp(HOST_CREDS.secretAccessKey));
  t.equal(ecr.calls.length, 1, 'the SDK does not retry an access denial');
});
