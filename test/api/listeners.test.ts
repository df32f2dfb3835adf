/**
 * Listeners: TCP with mutual TLS (certificates made here with openssl), and a
 * graceful SIGTERM of `titus-executor serve`. No engine is needed: the API
 * answers (and GetHostResources says the engine is unreachable) without one.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/common/command-runner.js';
import { parseConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/common/log.js';
import { startExecutor } from '../../src/executor.js';
import { call, createClient } from '../../src/cli/client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const openssl = (args: string[]) => runCommand(['openssl', ...args]);

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
const makePki = async (dir: string, name: string): Promise<void> => {
  const p = (f: string): string => join(dir, `${name}-${f}`);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}-ca`, '-keyout', p('ca.key'), '-out', p('ca.pem')]);
  for (const [who, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', p(`${who}.key`), '-out', p(`${who}.csr`)]);
    const extFile = p(`${who}.ext`);
    await import('node:fs').then((fs) => fs.writeFileSync(extFile, `${ext}\n`));
    await openssl(['x509', '-req', '-in', p(`${who}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', extFile, '-out', p(`${who}.pem`)]);
  }
};

t.test('TCP with mTLS: a client with a certificate from the CA is served, others are refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await makePki(dir, 'good');
  await makePki(dir, 'other');
  const config = parseConfig({
    logLevel: 'silent',
    api: { socketPath: join(dir, 'ex.sock'), tcpAddress: '127.0.0.1:0', tls: { certFile: join(dir, 'good-server.pem'), keyFile: join(dir, 'good-server.key'), caFile: join(dir, 'good-ca.pem') } },
    docker: { host: `unix://${join(dir, 'no-engine.sock')}` },
    stateDir: join(dir, 'state'),
  });
  const ex = await startExecutor(config, silentLogger());
  t.teardown(() => ex.stop());
  const address = ex.server.addresses.find((a) => a.startsWith('127.0.0.1:')) ?? '';
  t.match(address, /^127\.0\.0\.1:\d+$/);
  const hostResources = (opts: Parameters<typeof createClient>[0]) => {
    const c = createClient(opts);
    return call(c.GetHostResources.bind(c), {}).finally(() => c.close());
  };
  const good = await hostResources({ socket: address, tlsCa: join(dir, 'good-ca.pem'), tlsCert: join(dir, 'good-client.pem'), tlsKey: join(dir, 'good-client.key') });
  t.match(good.engineVersion, /^unreachable/, 'served over mTLS');
  await t.rejects(hostResources({ socket: address, tlsCa: join(dir, 'good-ca.pem') }), { code: grpc.status.UNAVAILABLE }, 'no client certificate');
  await t.rejects(
    hostResources({ socket: address, tlsCa: join(dir, 'good-ca.pem'), tlsCert: join(dir, 'other-client.pem'), tlsKey: join(dir, 'other-client.key') }),
    { code: grpc.status.UNAVAILABLE },
    'a client certificate from another CA',
  );
  await t.rejects(hostResources({ socket: address }), { code: grpc.status.UNAVAILABLE }, 'plaintext');
});

t.test('serve stops gracefully on SIGTERM: streams end, the socket is removed, exit 0', { skip: existsSync(join(root, 'dist/src/cli/main.js')) ? false : 'needs npm run build' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-term-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'ex.sock');
  const child = spawn(process.execPath, [join(root, 'bin/titus-executor.js'), '--socket', socket, 'serve', '--docker-host', `unix://${join(dir, 'none.sock')}`, '--log-level', 'silent', '--state-dir', join(dir, 'state')], { stdio: 'inherit' });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
  const client = createClient({ socket });
  const stream = client.WatchTaskStatus({ sendSnapshot: true });
  const ended = new Promise<string>((resolve) => {
    stream.on('data', () => undefined);
    stream.on('end', () => resolve('end'));
    stream.on('error', (e: grpc.ServiceError) => resolve(`error ${e.code}`));
  });
  await new Promise((r) => setTimeout(r, 200));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0');
  t.ok(['end', `error ${grpc.status.UNAVAILABLE}`, `error ${grpc.status.CANCELLED}`].includes(await ended), 'the watch stream ended');
  t.notOk(existsSync(socket), 'socket removed');
  client.close();
});
