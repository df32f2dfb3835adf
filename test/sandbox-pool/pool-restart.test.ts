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
import { crashWithPooledTasks, poolClient } from './pool-client.js';
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
  const pool = poolClient(h, executorId, POOL_SIZE);
  const { poolLine, untilFull, launch, state, pooledSandboxes } = pool;

  const { second, live, after } = await crashWithPooledTasks(t, h, serve, pool, POOL_SIZE);
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
