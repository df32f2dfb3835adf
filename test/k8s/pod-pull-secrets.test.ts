/**
 * A pod's imagePullSecrets through the interLink plugin API, against a real
 * registry that requires basic auth (test/harness/auth-registry.ts). interLink
 * sends the plugin only the Secrets a pod's volumes name, so the pod mounts its
 * pull Secret too; one that did not arrive is refused with HTTP 400.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthRegistry, type AuthRegistry } from '../harness/auth-registry.js';
import { allTerminated, byName, podSuite, type SimplePod } from './pod-suite.js';

const suite = podSuite(t);
const test = suite.test;
let reg: AuthRegistry;
t.before(async () => {
  reg = await startAuthRegistry(suite.h);
  t.teardown(() => reg.stop());
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** With `mount`, the pod also mounts its pull Secret in a volume, which is what makes interLink send it. */
const privatePod = (name: string, pullSecret?: string, mount = true): SimplePod & { spec: { imagePullSecrets?: Array<{ name: string }> } } => ({
  metadata: { name, namespace: 'default', uid: randomUUID() },
  spec: {
    containers: [
      {
        name: 'main',
        image: `${reg.busyboxRepo}:latest`,
        command: ['sh', '-c', 'echo $TITUS_TEST_IMAGE'],
        ...(pullSecret !== undefined && mount ? { volumeMounts: [{ name: 'pull', mountPath: '/pull', readOnly: true }] } : {}),
      },
    ],
    ...(pullSecret !== undefined && mount ? { volumes: [{ name: 'pull', secret: { secretName: pullSecret } }] } : {}),
    ...(pullSecret !== undefined ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
    restartPolicy: 'Never',
  },
});

const dockerConfigSecret = (name: string, password: string): unknown => ({
  metadata: { name, namespace: 'default' },
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { [reg.address]: { auth: b64(`${reg.username}:${password}`) } } })) },
});

/** interLink's create body: the Secret comes with the container that mounts it. */
const body = (pod: SimplePod, secrets: unknown[]): unknown => ({
  pod,
  container: pod.spec.containers.map((c) => ({ name: c.name, configMaps: null, secrets, projectedvolumemaps: null, emptyDirs: null })),
});

test('a pod with a dockerconfigjson imagePullSecret that arrived pulls the private image and runs', async (t) => {
  const pod = privatePod('pull-secret-ok', 'regcred');
  t.equal((await suite.create(body(pod, [dockerConfigSecret('regcred', reg.password)]))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'terminated');
  const main = byName(done.containers, 'main').state.terminated;
  t.equal(main?.exitCode, 0, main?.message ?? '');
  const file = join(suite.ex.config.stateDir, 'k8s', 'pods', pod.metadata.uid, 'volumes', '.image-pull-auths.json');
  t.equal(statSync(file).mode & 0o777, 0o600, "the pod's pull credentials are readable by the executor only");
  t.equal((await suite.del(pod)).status, 200);
  await suite.h.docker(['rmi', '-f', `${reg.busyboxRepo}:latest`], { allowFailure: true });
});

test('a wrong password in the imagePullSecret fails the container with the registry reason', async (t) => {
  const pod = privatePod('pull-secret-bad', 'badcred');
  t.equal((await suite.create(body(pod, [dockerConfigSecret('badcred', 'not-the-password')]))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'terminated');
  const main = byName(done.containers, 'main').state.terminated;
  t.not(main?.exitCode, 0);
  t.match(main?.message, /unauthorized|authentication required/i, main?.message ?? '');
  t.equal((await suite.del(pod)).status, 200);
});

test('an imagePullSecret that did not arrive with the request is refused with 400 naming the field', async (t) => {
  // What an unmodified interLink sends for a pod that names a pull Secret it does not mount: the Secret stays behind.
  const pod = privatePod('pull-secret-missing', 'regcred', false);
  const reply = await suite.create(body(pod, []));
  t.equal(reply.status, 400);
  t.match(reply.text, /pod\.spec\.imagePullSecrets\.0\.name/);
  t.match(reply.text, /did not arrive/);
});

test('a Secret that is not a Docker config is refused with 400', async (t) => {
  const pod = privatePod('pull-secret-opaque', 'opaque');
  const reply = await suite.create(body(pod, [{ metadata: { name: 'opaque' }, type: 'Opaque', data: { token: b64('x') } }]));
  t.equal(reply.status, 400);
  t.match(reply.text, /imagePullSecrets\.0\.name.*no \.dockerconfigjson/);
});
