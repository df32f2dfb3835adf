/**
 * KillTask against a real dockerd (test/harness): grace periods, kills during a
 * pull, idempotence. The "hanging registry" below is a local HTTP server that
 * accepts a registry's /v2/ probe and never answers a manifest request: it
 * stands in for a slow real registry so a kill reliably lands mid-pull.
 */
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { executorSuite, uniqueTaskId } from '../helpers/executor.js';

const suite = executorSuite(t);
const test = suite.test;

const short = (s: string | undefined): string => (s ?? '').replace('TASK_STATE_', '');

test('a task that ignores SIGTERM is killed after its grace period and ends KILLED', async (t) => {
  const taskId = uniqueTaskId('kill');
  await suite.ex.launch({
    taskId,
    containerInfo: {
      fullyQualifiedImage: suite.h.images.busyboxRepo,
      killWaitSeconds: 3,
      process: { entrypoint: ['/bin/sh', '-c'], command: ['trap "" TERM; while true; do sleep 1; done'] },
    },
  });
  await suite.ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const started = Date.now();
  const res = await suite.ex.kill(taskId);
  t.equal(short(res.state), 'KILL_INITIATED', 'KillTask returns at once with KILL_INITIATED');
  const updates = await suite.ex.waitForState(taskId, 'terminal');
  const elapsed = Date.now() - started;
  t.equal(short(updates.at(-1)?.state), 'KILLED');
  t.equal(updates.at(-1)?.reasonCode, 'killed');
  t.ok(elapsed >= 3000, `took ${elapsed} ms, at least the 3 s grace period`);
  t.ok(elapsed < 15000, `took ${elapsed} ms, not much more than the grace period`);
});

test('a task that exits on SIGTERM is KILLED promptly; a second kill is harmless', async (t) => {
  const taskId = uniqueTaskId('kill');
  await suite.ex.launch({ taskId, containerInfo: { fullyQualifiedImage: suite.h.images.busyboxRepo, process: { command: ['sleep', '300'] } } });
  await suite.ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const started = Date.now();
  await suite.ex.kill(taskId);
  const again = await suite.ex.kill(taskId);
  t.equal(short(again.state), 'KILL_INITIATED', 'the second kill changes nothing');
  const updates = await suite.ex.waitForState(taskId, 'terminal');
  t.equal(short(updates.at(-1)?.state), 'KILLED');
  t.ok(Date.now() - started < 5000, 'sleep under the init process exits on SIGTERM');
  t.equal(updates.filter((u) => short(u.state) === 'KILL_INITIATED').length, 1, 'one KILL_INITIATED');
  const after = await suite.ex.kill(taskId);
  t.equal(short(after.state), 'KILLED', 'a kill after the end returns the terminal task');
});

test("a kill sends the image's STOPSIGNAL instead of SIGTERM", async (t) => {
  const taskId = uniqueTaskId('sig');
  await suite.ex.launch({
    taskId,
    containerInfo: {
      fullyQualifiedImage: suite.h.images.stopsignal.replace(/:latest$/, ''),
      killWaitSeconds: 20,
      // SIGTERM is ignored: only the image's SIGUSR1 can end this task before the grace period.
      process: { command: ['sh', '-c', 'trap "exit 42" USR1; trap "" TERM; while true; do sleep 1; done'] },
    },
  });
  await suite.ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const started = Date.now();
  await suite.ex.kill(taskId);
  const end = (await suite.ex.waitForState(taskId, 'terminal')).at(-1);
  t.equal(short(end?.state), 'KILLED');
  t.equal(end?.exit?.exitCode, 42, 'the task handled SIGUSR1');
  t.ok(Date.now() - started < 10_000, 'long before the 20 s grace period');
});

test('KillTask of an unknown task is NOT_FOUND', async (t) => {
  await t.rejects(suite.ex.kill('no-such-task'), { code: grpc.status.NOT_FOUND });
});

test('a kill during the image pull cancels it and the task never reaches RUNNING', async (t) => {
  const hanging = await hangingRegistry(t);
  const taskId = uniqueTaskId('pull');
  await suite.ex.launch({ taskId, containerInfo: { fullyQualifiedImage: `${hanging}/slow/image`, version: 'v1', process: { command: ['true'] } } });
  await suite.ex.waitForState(taskId, 'TASK_STATE_STARTING');
  await new Promise((r) => setTimeout(r, 300)); // the pull is now waiting on the registry
  const started = Date.now();
  await suite.ex.kill(taskId);
  const updates = await suite.ex.waitForState(taskId, 'terminal', 20_000);
  const seen = updates.map((u) => short(u.state));
  t.equal(seen.at(-1), 'KILLED');
  t.notOk(seen.includes('RUNNING'), `never RUNNING: ${seen.join(',')}`);
  t.ok(Date.now() - started < 5000, 'the pull was cancelled, not waited out');
  t.equal((await suite.ex.get(taskId)).containerId, '', 'no container was created');
});

/** A registry that answers the /v2/ probe and then never answers. */
const hangingRegistry = async (t: Test): Promise<string> => {
  const pending = new Set<import('node:http').ServerResponse>();
  const server: Server = createServer((req, res) => {
    if (req.url === '/v2/' || req.url === '/v2') {
      res.writeHead(200, { 'Docker-Distribution-Api-Version': 'registry/2.0', 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    pending.add(res); // never answered
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const res of pending) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
};
