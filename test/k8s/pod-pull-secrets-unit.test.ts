/**
 * writePullAuths on its own: the forms a pull Secret comes in (base64 `data`,
 * `stringData`, legacy `.dockercfg`), the order Secrets win in, and the file's mode.
 */
import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExecutorError } from '../../src/common/errors.js';
import { writePullAuths } from '../../src/k8s/pod-pull-secrets.js';
import { podSchema, type K8sSecret } from '../../src/k8s/pod-schema.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const pod = (names: string[]) =>
  podSchema.parse({
    metadata: { name: 'p', uid: 'u-1' },
    spec: { containers: [{ name: 'c', image: 'x' }], imagePullSecrets: names.map((name) => ({ name })) },
  });

let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'titus-pullsecrets-'));
});
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('dockerconfigjson in data or stringData and legacy dockercfg merge, the first Secret winning per registry', async (t) => {
  const secrets = new Map<string, K8sSecret>([
    ['a', { metadata: { name: 'a' }, data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'r1.example.com': { auth: 'first' } } })) } }],
    ['b', { metadata: { name: 'b' }, stringData: { '.dockerconfigjson': JSON.stringify({ auths: { 'r1.example.com': { auth: 'second' }, 'r2.example.com': { auth: 'b' } } }) } }],
    ['c', { metadata: { name: 'c' }, data: { '.dockercfg': b64(JSON.stringify({ 'r3.example.com': { auth: 'legacy' } })) } }],
  ]);
  const file = await writePullAuths(dir, pod(['a', 'b', 'c']), secrets);
  t.ok(file !== undefined);
  t.same(JSON.parse(await readFile(file as string, 'utf8')), {
    auths: { 'r1.example.com': { auth: 'first' }, 'r2.example.com': { auth: 'b' }, 'r3.example.com': { auth: 'legacy' } },
  });
  t.equal((await stat(file as string)).mode & 0o777, 0o600);
});

t.test('no imagePullSecrets: no file', async (t) => {
  t.equal(await writePullAuths(dir, pod([]), new Map()), undefined);
});

t.test('a missing Secret or one that is not JSON is INVALID_ARGUMENT naming its index', async (t) => {
  const err = await writePullAuths(dir, pod(['ok', 'gone']), new Map([['ok', { metadata: { name: 'ok' }, stringData: { '.dockerconfigjson': '{"auths":{}}' } }]])).catch((e: unknown) => e);
  t.ok(isExecutorError(err, 'INVALID_ARGUMENT'));
  t.match((err as Error).message, /pod\.spec\.imagePullSecrets\.1\.name/);
  const bad = await writePullAuths(dir, pod(['bad']), new Map([['bad', { metadata: { name: 'bad' }, stringData: { '.dockerconfigjson': 'not json' } }]])).catch((e: unknown) => e);
  t.match((bad as Error).message, /imagePullSecrets\.0\.name.*not JSON/);
});
