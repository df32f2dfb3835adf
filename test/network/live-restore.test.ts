/**
 * A task network adopted after an executor crash stays held across an engine
 * restart with live-restore. The restarted executor adopts the running task's
 * network from its container's labels and waits on the container to release
 * it; a live-restore engine restart keeps the container running, so whatever
 * becomes of that wait, the network must stay until the task ends (its address
 * could otherwise go to another task while this one still uses it). A guard:
 * it passes on the code it was written against too. Real `serve` child, real
 * dockerd with live-restore, local driver with its host side in a namespace
 * the test created.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { useHarness } from '../harness/index.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { settledCensus } from '../helpers/census.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { call } from '../../src/cli/client.js';
import { namesForTask } from '../../src/vpc/naming.js';
import { createHostNetns, eventually, inventory, localNetwork } from './fixtures/tasks.js';

t.test('an adopted task network outlives a live-restore engine restart while its task runs', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-net-live-restore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t, { liveRestore: true });
  const hostNs = await createHostNetns(t);
  const leaseFile = join(dir, 'leases.json');
  const executorId = `net-lr-${h.runId}`;
  const serve = serveProcesses(t, dir, {
    executorId,
    docker: { host: h.dockerHost },
    network: localNetwork(hostNs, { ipv4Cidr: '198.18.31.0/24', ipv6Cidr: undefined, leaseFile }),
  });
  const leasedTasks = (): string[] =>
    existsSync(leaseFile) ? (JSON.parse(readFileSync(leaseFile, 'utf8')) as { leases: Array<{ taskId: string }> }).leases.map((l) => l.taskId) : [];
  const stateOf = async (c: typeof first, taskId: string): Promise<string> => (await call(c.GetTask.bind(c), { taskId })).state ?? '';

  const firstDaemon = await serve.start();
  const first = firstDaemon.client;
  const taskId = uniqueTaskId('nlr');
  await call(first.LaunchTask.bind(first), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '300'] } } });
  await eventually('the task runs', async () => (await stateOf(first, taskId)) === 'TASK_STATE_RUNNING', 60_000);
  const veth = namesForTask(taskId).hostVeth;

  // The restarted executor adopts the network from the running container's labels.
  await firstDaemon.crash();
  const second = (await serve.start()).client;
  await eventually('the task is re-attached', async () => (await stateOf(second, taskId)) === 'TASK_STATE_RUNNING', 30_000);
  t.same(leasedTasks(), [taskId], 'the adopted task holds its lease');

  // live-restore: the engine's restart keeps the container running, but ends the executor's waits on it.
  await h.restartEngine(500);
  await sleep(3000);
  t.equal((await h.docker(['inspect', '-f', '{{.State.Running}}', taskId])).stdout.trim(), 'true', 'live-restore kept the container running');
  t.equal(await stateOf(second, taskId), 'TASK_STATE_RUNNING', 'the task is still RUNNING');
  t.same(leasedTasks(), [taskId], 'its address is still leased');
  t.ok((await inventory(hostNs)).links.includes(veth), 'its veth is still there');

  await call(second.KillTask.bind(second), { taskId, killWaitSeconds: 0 });
  await eventually('the task ends', async () => /KILLED|FAILED|FINISHED/.test(await stateOf(second, taskId)), 30_000);
  await eventually('its network is released', async () => leasedTasks().length === 0 && !(await inventory(hostNs)).links.includes(veth));
  t.same(await settledCensus({ h, executorId, client: second, stateDir: join(dir, 'state'), leaseFile, hostNs }), [], 'nothing left that no live task owns');
  second.close();
});
