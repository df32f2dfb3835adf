/**
 * The warm pool with the local network driver across an executor crash
 * (`kill -9` of a real `titus-executor serve`): the restarted executor
 * restores the live tasks' networks with the pooled sandboxes they joined,
 * removes the sandbox of a task that ended meanwhile (the network part does
 * not adopt it) and the crashed process's idle ones; the census, host
 * namespace and lease file included, finds nothing else.
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
import { createHostNetns, localNetwork } from '../network/fixtures/tasks.js';

const POOL_SIZE = 3;

t.test('local driver: pooled sandboxes after kill -9 of the executor', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-pool-local-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath });
  const h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  const hostNs = await createHostNetns(t);
  const leaseFile = join(dir, 'leases.json');
  const executorId = `pool-local-restart-${h.runId}`;
  const serve = serveProcesses(t, dir, {
    executorId,
    docker: { host: h.dockerHost },
    network: localNetwork(hostNs, { ipv4Cidr: '198.18.42.0/24', ipv6Cidr: undefined, leaseFile }),
    sandboxPool: { size: POOL_SIZE },
    gpu: { hookConfigPath, lockDir: join(dir, 'locks'), nvidiaSmiPath: join(dir, 'no-nvidia-smi'), deviceNodePath: join(dir, 'no-nvidia0') },
  });
  const pool = poolClient(h, executorId, POOL_SIZE);
  const { state, pooledSandboxes } = pool;

  const { second, live, sandboxOf } = await crashWithPooledTasks(t, h, serve, pool, POOL_SIZE);
  t.same(await settledCensus({ h, executorId, client: second, poolSize: POOL_SIZE, hostNs, leaseFile }), [], 'the census finds nothing but the live tasks\' and the pool\'s');

  // The adopted tasks' networks are released with the pooled sandbox they joined.
  for (const taskId of live) await call(second.KillTask.bind(second), { taskId, killWaitSeconds: 0 });
  for (const taskId of live) await state(second, taskId, /KILLED/);
  // An adopted task's network is released when its container's wait ends (recoverNetwork), not before KILLED: poll.
  let end = await pooledSandboxes();
  for (let i = 0; i < 100 && live.some((id) => end.includes(sandboxOf.get(id) ?? '')); i++) {
    await new Promise((r) => setTimeout(r, 100));
    end = await pooledSandboxes();
  }
  t.notOk(live.some((id) => end.includes(sandboxOf.get(id) ?? '')), 'killing the adopted tasks removed the pooled sandboxes they joined');
  t.same(await settledCensus({ h, executorId, client: second, poolSize: POOL_SIZE, hostNs, leaseFile }), [], 'census clean after the kills');
});
