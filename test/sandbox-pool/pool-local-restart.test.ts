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
import { poolClient } from './pool-client.js';
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
  const { untilFull, launch, state, pooledSandboxes, joined } = poolClient(h, executorId, POOL_SIZE);

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
