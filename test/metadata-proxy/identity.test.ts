/**
 * Signed task identity (/nflx/v1/task-identity) from the proxy on loopback;
 * keys are generated with node:crypto (and a certificate with the openssl
 * CLI), standing for the host key from config.
 */
import { createPublicKey, generateKeyPairSync, verify, constants } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { identityTypes } from '../../src/metadata-proxy/identity-document.js';
import { createIdentitySigner, loadIdentitySigner, verifyIdentitySignature } from '../../src/metadata-proxy/identity-signer.js';
import { makeTempDir } from '../gpu/temp-dir.js';
import { assertNoLeaks, startProxyHarness, TASK_A, TASK_B } from './fixtures/proxy-harness.js';

/** What a verifier with upstream's protos sees inside `container`: a ContainerInfo with runState (39). */
const upstreamView = protobuf.parse(`
  syntax = "proto2";
  message RunningContainerInfo { optional string hostName = 1; optional string taskId = 2; optional uint64 launchTimeUnixSec = 3; }
  message ContainerInfo { optional string imageName = 1; optional string appName = 14; optional string iamProfile = 17; optional RunningContainerInfo runState = 39; }
`).root.lookupType('ContainerInfo');

const flipByte = (bytes: Uint8Array, index: number): Buffer => {
  const copy = Buffer.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
};

interface DecodedDocument {
  identity: Uint8Array;
  signature: { signature: Uint8Array; algorithm: number; certChain: Uint8Array[] };
}

t.test('the protobuf document verifies with the published key, and not after one byte changes', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A, TASK_B] });
  const types = identityTypes();
  const pem = (await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity/public-key')).body.toString();
  t.match(pem, /^-----BEGIN PUBLIC KEY-----/);
  const publicKey = createPublicKey(pem);

  const a = await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity');
  t.equal(a.status, 200);
  t.equal(a.headers['content-type'], 'application/x-protobuf');
  const doc = types.taskIdentityDocument.toObject(types.taskIdentityDocument.decode(a.body), { enums: Number }) as DecodedDocument;
  t.equal(doc.signature.algorithm, types.signatureAlgorithm.values['SHA512withECDSA']);
  t.ok(verify('sha512', doc.identity, publicKey, doc.signature.signature), 'verifies with node:crypto and the published key');
  t.notOk(verify('sha512', flipByte(doc.identity, 0), publicKey, doc.signature.signature), 'first identity byte changed');
  t.notOk(verify('sha512', flipByte(doc.identity, doc.identity.length - 1), publicKey, doc.signature.signature), 'last identity byte changed');
  t.notOk(verify('sha512', doc.identity, publicKey, flipByte(doc.signature.signature, 10)), 'signature byte changed');

  const identity = types.taskIdentity.toObject(types.taskIdentity.decode(doc.identity), { longs: Number, enums: String }) as {
    task: { taskId: string; containerId: string; status?: string };
    container: Uint8Array;
    unixTimestampSec: number;
    ipv4Address: string;
  };
  t.equal(identity.task.taskId, TASK_A.taskId);
  t.equal(identity.task.containerId, TASK_A.taskId);
  t.equal(identity.ipv4Address, TASK_A.address);
  t.equal(identity.unixTimestampSec, Math.floor(h.clock.now() / 1000));
  const container = upstreamView.toObject(upstreamView.decode(identity.container), { longs: Number }) as {
    imageName: string;
    iamProfile: string;
    runState: { taskId: string; launchTimeUnixSec: number };
  };
  t.equal(container.imageName, `${TASK_A.taskId}/app`);
  t.equal(container.iamProfile, TASK_A.roleArn);
  t.equal(container.runState.taskId, TASK_A.taskId);
  t.equal(container.runState.launchTimeUnixSec, Math.floor((h.clock.now() - 30_000) / 1000), 'launch time = container start');

  const b = await h.request(TASK_B.address, 'GET', '/nflx/v1/task-identity');
  t.notOk(b.body.includes(TASK_A.taskId), "B's document says nothing of A");
  t.ok(b.body.includes(TASK_B.taskId));
  assertNoLeaks(t, h);
});

t.test('the JSON form carries the signed bytes, signature and algorithm, and verifies', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A] });
  const a = await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity', { Accept: 'application/json' });
  t.equal(a.headers['content-type'], 'application/json');
  const doc = JSON.parse(a.body.toString()) as {
    identity: { task: { taskId: string }; ipv4Address: string; container: { imageName: string; runState: { taskId: string } } };
    identityBytes: string;
    signature: { signature: string; algorithm: 'SHA512withECDSA'; certChain: string[] };
  };
  t.equal(doc.identity.task.taskId, TASK_A.taskId);
  t.equal(doc.identity.container.runState.taskId, TASK_A.taskId);
  t.equal(doc.signature.algorithm, 'SHA512withECDSA');
  t.same(doc.signature.certChain, []);
  const bytes = Buffer.from(doc.identityBytes, 'base64');
  const signature = Buffer.from(doc.signature.signature, 'base64');
  const pem = h.signer?.publicKeyPem ?? '';
  t.ok(verifyIdentitySignature(pem, doc.signature.algorithm, bytes, signature));
  t.notOk(verifyIdentitySignature(pem, doc.signature.algorithm, flipByte(bytes, 5), signature));
  const decoded = identityTypes().taskIdentity.decode(bytes).toJSON() as { task: { taskId: string } };
  t.equal(decoded.task.taskId, TASK_A.taskId, 'the readable view matches the signed bytes');
  assertNoLeaks(t, h);
});

t.test('RSA keys sign with RSA-PSS (SHA-512, MGF1, salt 20)', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const h = await startProxyHarness(t, { tasks: [TASK_A], signer: createIdentitySigner(privateKey) });
  const types = identityTypes();
  const a = await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity');
  const doc = types.taskIdentityDocument.toObject(types.taskIdentityDocument.decode(a.body), { enums: Number }) as DecodedDocument;
  t.equal(doc.signature.algorithm, types.signatureAlgorithm.values['SHA512withRSAandMGF1']);
  const pss = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 };
  t.ok(verify('sha512', doc.identity, pss, doc.signature.signature));
  t.notOk(verify('sha512', flipByte(doc.identity, 3), pss, doc.signature.signature));
});

t.test('keys and certificate chains from files', async (t) => {
  const dir = makeTempDir(t, 'titus-mdproxy-');
  const keyFile = join(dir, 'identity.key');
  const certFile = join(dir, 'identity.crt');
  await runCommand(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=titus-test-host']);
  const signer = loadIdentitySigner(keyFile, certFile);
  t.equal(signer.algorithm, 'SHA512withECDSA');
  t.equal(signer.certChainDer.length, 1);
  const h = await startProxyHarness(t, { tasks: [TASK_A], signer });
  const types = identityTypes();
  const doc = types.taskIdentityDocument.toObject(types.taskIdentityDocument.decode((await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity')).body)) as DecodedDocument;
  t.same(Buffer.from(doc.signature.certChain[0] ?? []), signer.certChainDer[0], 'the certificate (DER) travels in the document');

  const otherKey = join(dir, 'other.key');
  writeFileSync(otherKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  t.throws(() => loadIdentitySigner(otherKey, certFile), /does not match the signing key/);
  t.throws(() => loadIdentitySigner(join(dir, 'missing.key')), /cannot read the identity signing key/);
  writeFileSync(join(dir, 'ed.key'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  t.throws(() => loadIdentitySigner(join(dir, 'ed.key')), /neither EC nor RSA/);
  writeFileSync(join(dir, 'junk.key'), 'not a key');
  t.throws(() => loadIdentitySigner(join(dir, 'junk.key')), /not a PEM private key/);
});

t.test('without a signing key the identity endpoints are 404', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A], signer: 'none' });
  t.equal((await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity')).status, 404);
  t.equal((await h.request(TASK_A.address, 'GET', '/nflx/v1/task-identity/public-key')).status, 404);
});
