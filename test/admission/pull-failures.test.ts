/**
 * A pull the registry or engine refuses ends FAILED with reason `failed` and
 * their words: never LOST, never "probably Titus bug" (issue 19: these were
 * LOST). Real launches on the harness engine, against loopback ports the test
 * owns: one nothing listens on, one where an HTTP server answers every
 * registry call with 503, one that closes every connection at once.
 */
import t, { type Test } from 'tap';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type AddressInfo } from 'node:net';
import { executorSuite, uniqueTaskId } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';

const suite = executorSuite(t);

const listen = async (server: HttpServer | TcpServer): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
};

/** A port on loopback that nothing listens on: bound, then closed. */
const closedPort = async (): Promise<number> => {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
};

const expectPullFailure = async (t: Test, image: string, reason: RegExp): Promise<void> => {
  const { ex } = suite;
  const updates = await ex.run({ taskId: uniqueTaskId('pullfail'), containerInfo: { fullyQualifiedImage: image, process: { command: ['true'] } } });
  const end = updates.at(-1);
  t.equal(end?.state, 'TASK_STATE_FAILED', `FAILED, not LOST: ${end?.message}`);
  t.equal(end?.reasonCode, 'failed');
  t.match(end?.message, /^Failed to pull the image: pull /, 'says the pull failed');
  t.match(end?.message, reason, "in the registry's or engine's words");
  t.notMatch(end?.message, /probably Titus bug/);
  t.notOk(updates.some((u) => u.state === 'TASK_STATE_RUNNING'), 'it never ran');
  const host = await call(ex.client.GetHostResources.bind(ex.client), {});
  t.match(host.allocated, { cpu: 0, memoryMb: 0 }, 'nothing held afterwards');
};

suite.test('port 1: nothing listens', async (t) => {
  await expectPullFailure(t, '127.0.0.1:1/x', /127\.0\.0\.1:1.*connection refused/);
});

suite.test('a closed loopback port', async (t) => {
  const port = await closedPort();
  await expectPullFailure(t, `127.0.0.1:${port}/app`, /connection refused/);
});

suite.test('a registry that answers 503', async (t) => {
  const port = await listen(
    createHttpServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('registry in maintenance');
    }),
  );
  await expectPullFailure(t, `127.0.0.1:${port}/app`, /503|Service Unavailable/i);
});

suite.test('a port that hangs up on every connection', async (t) => {
  const port = await listen(createTcpServer((socket) => socket.destroy()));
  await expectPullFailure(t, `127.0.0.1:${port}/app`, /EOF|reset|closed/i);
});
