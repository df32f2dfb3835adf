/**
 * The warm pool across an executor crash (`kill -9` of a real `titus-executor
 * serve`) and an engine restart: the restarted executor keeps the pooled
 * sandboxes its live tasks joined, removes every other pooled sandbox the
 * crashed process made (idle ones, and that of a task that ended meanwhile),
 * and fills its own pool again; the census finds nothing else.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness } from '../harness/index.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { settledCensus } from '../helpers/census.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { poolClient } from './pool-client.js';
import { call } from '../../src/cli/client.js';
import { hostnameFor } from '../../src/task/build-container-spec.js';

const POOL_SIZE = 3;

t.test('pooled sandboxes after kill -9 of the executor, then after an engine restart', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-pool-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath });
  const h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  const executorId = `pool-restart-${h.runId}`;
  const serve = serveProcesses(t, dir, {
    executorId,
    docker: { host: h.dockerHost },
    sandboxPool: { size: POOL_SIZE },
    gpu: { hookConfigPath, lockDir: join(dir, 'locks'), nvidiaSmiPath: join(dir, 'no-nvidia-smi'), deviceNodePath: join(dir, 'no-nvidia0') },
  });
  const { poolLine, untilFull, launch, state, pooledSandboxes, joined } = poolClient(h, executorId, POOL_SIZE);

  const firstDaemon = await serve.start();
  const first = firstDaemon.client;
  t.match(await untilFull(first), `${POOL_SIZE}/${POOL_SIZE} ready`, 'the first executor filled its pool');
  const live = [await launch(first, 'sleep 300'), await launch(first, 'sleep 300')];
  const shortLived = await launch(first, 'sleep 2');
  const containerOf = new Map<string, string>();
  for (const taskId of [...live, shortLived]) containerOf.set(taskId, await state(first, taskId, /RUNNING/));
  const sandboxOf = new Map<string, string>();
  for (const [taskId, containerId] of containerOf) sandboxOf.set(taskId, await joined(containerId));
  t.ok([...sandboxOf.values()].every((id) => /^[0-9a-f]{64}$/.test(id)), 'all three tasks joined pooled sandboxes');
  await untilFull(first);

  await firstDaemon.crash();
  const before = await pooledSandboxes();
  t.equal(before.length, 3 + POOL_SIZE, 'while the executor is down: three sandboxes in use and a full idle pool');
  for (let i = 0; i < 100; i++) {
    if ((await h.docker(['inspect', '-f', '{{.State.Running}}', containerOf.get(shortLived) ?? ''])).stdout.trim() === 'false') break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const second = (await serve.start()).client;
  await state(second, shortLived, /FINISHED/);
  t.match(await untilFull(second), `${POOL_SIZE}/${POOL_SIZE} ready`, 'the restarted executor filled a pool of its own');
  const after = await pooledSandboxes();
  t.ok(live.every((id) => after.includes(sandboxOf.get(id) ?? '')), 'the live tasks keep the sandboxes they joined');
  t.notOk(after.includes(sandboxOf.get(shortLived) ?? ''), 'the sandbox of the task that ended while the executor was down is removed');
  const idleBefore = before.filter((id) => ![...sandboxOf.values()].includes(id));
  t.notOk(idleBefore.some((id) => after.includes(id)), 'the crashed process\'s idle sandboxes are removed');
  t.equal(after.length, live.length + POOL_SIZE, 'what is left: the live tasks\' sandboxes and the new pool');
  t.same(await settledCensus({ h, executorId, client: second, poolSize: POOL_SIZE }), [], 'the census finds nothing but the live tasks\' and the pool\'s');
  // A new task after the restart is pooled and named as itself.
  const fresh = await launch(second, 'hostname');
  await state(second, fresh, /FINISHED/);
  t.equal(((await call(second.GetTask.bind(second), { taskId: fresh })).outputTail ?? '').trim(), hostnameFor(fresh), 'a task launched after the restart has its own hostname');
  t.match(await poolLine(second), /1 launches pooled, 0 fell back/, 'and was pooled');

  // The engine restarts (no live-restore): every container stops, the pool's sandboxes with them.
  await h.restartEngine(500);
  for (const taskId of live) await state(second, taskId, /FAILED|LOST|FINISHED|KILLED/);
  t.match(await untilFull(second), `${POOL_SIZE}/${POOL_SIZE} ready`, 'after the engine restart the pool is full again');
  const afterEngine = await pooledSandboxes();
  t.notOk(after.some((id) => afterEngine.includes(id)), 'no sandbox from before the engine restart is left');
  t.same(await settledCensus({ h, executorId, client: second, poolSize: POOL_SIZE }), [], 'census clean after the engine restart');
});
