/**
 * A burst of launches of one image asks the engine about that image once:
 * DockerRuntime.findImage shares an inspect in flight among its callers, and
 * keeps nothing once it is answered. The engine here is a stand-in HTTP server
 * on a unix socket that counts the inspects it is asked for.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';

const startFakeEngine = async (t: Test): Promise<{ host: string; inspects: string[]; release: () => void }> => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-engine-'));
  const socket = join(dir, 'docker.sock');
  const inspects: string[] = [];
  let held: Array<() => void> = [];
  const server = createServer((req, res) => {
    const m = /\/images\/(.+)\/json$/.exec(req.url ?? '');
    if (m === null) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not here"}');
      return;
    }
    inspects.push(decodeURIComponent(m[1] ?? ''));
    // Answered only when the test says so, so that the callers overlap for certain.
    held.push(() => {
      if (m[1] === 'missing') res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"No such image"}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ Id: 'sha256:abc', Size: 42, Config: { Cmd: ['sh'] } }));
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  const release = (): void => {
    const now = held;
    held = [];
    for (const answer of now) answer();
  };
  return { host: `unix://${socket}`, inspects, release };
};

/** Until `n` inspects have reached the engine (or a second has passed). */
const untilAsked = async (inspects: readonly string[], n: number): Promise<void> => {
  for (let i = 0; i < 200 && inspects.length < n; i++) await new Promise((r) => setTimeout(r, 5));
};

t.test('concurrent findImage calls of one image make one engine inspect; a later call asks again', async (t) => {
  const engine = await startFakeEngine(t);
  const runtime = new DockerRuntime(engine.host);
  const asked = Array.from({ length: 20 }, () => runtime.findImage('app'));
  await untilAsked(engine.inspects, 1);
  await new Promise((r) => setTimeout(r, 50)); // room for a second inspect, were one sent
  engine.release();
  const answers = await Promise.all(asked);
  t.same(engine.inspects, ['app'], 'one inspect for 20 callers');
  t.ok(answers.every((a) => a?.id === 'sha256:abc' && a.sizeBytes === 42), 'every caller gets the answer');

  const later = runtime.findImage('app');
  await untilAsked(engine.inspects, 2);
  engine.release();
  t.equal((await later)?.id, 'sha256:abc');
  t.equal(engine.inspects.length, 2, 'nothing is kept once answered: a later call asks the engine again');
});

t.test('different images are asked about apart, and a missing image is missing for every caller', async (t) => {
  const engine = await startFakeEngine(t);
  const runtime = new DockerRuntime(engine.host);
  const asked = [runtime.findImage('missing'), runtime.findImage('missing'), runtime.findImage('app')];
  await untilAsked(engine.inspects, 2);
  engine.release();
  const [a, b, c] = await Promise.all(asked);
  t.same([...engine.inspects].sort(), ['app', 'missing'], 'one inspect per image');
  t.equal(a, undefined);
  t.equal(b, undefined);
  t.equal(c?.id, 'sha256:abc');
});
