/**
 * Task networks across an executor crash: the executor runs as a real child
 * process (`titus-executor serve`) with the local driver and a lease file, is
 * SIGKILLed with networked tasks running, and restarts. The restarted
 * executor re-derives the attachments from its running task containers'
 * labels, collects everything else, and releases each task's network when its
 * container exits. Host pieces live in a namespace the test created (see
 * fixtures/tasks.ts).
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, useHarness } from '../harness/index.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { census, settledCensus } from '../helpers/census.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { call } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import { namesForTask } from '../../src/vpc/naming.js';
import { createHostNetns, eventually, heldNetns, inNs, inventory, localNetwork, netnsHolder, witnessNetns } from './fixtures/tasks.js';


const LIVE = 5;

t.test('networks of tasks that outlive an executor crash are restored exactly, then released', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-net-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const h = await useHarness(t);
  const hostNs = await createHostNetns(t);
  const leaseFile = join(dir, 'leases.json');
  const executorId = `net-restart-${h.runId}`;
  const serve = serveProcesses(t, dir, {
    executorId,
    docker: { host: h.dockerHost },
    network: localNetwork(hostNs, { ipv4Cidr: '198.18.30.0/24', ipv6Cidr: undefined, leaseFile }),
  });
  const launch = async (c: TitusExecutorClient, command: string): Promise<string> => {
    const taskId = uniqueTaskId('nr');
    await call(c.LaunchTask.bind(c), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', command] } } });
    return taskId;
  };
  const running = async (c: TitusExecutorClient, taskId: string): Promise<{ containerId: string; address: string }> => {
    for (let i = 0; i < 200; i++) {
      const task = await call(c.GetTask.bind(c), { taskId });
      if (task.state === 'TASK_STATE_RUNNING') return { containerId: task.containerId ?? '', address: task.lastUpdate?.network?.ipv4Address ?? '' };
      if (/FINISHED|FAILED|KILLED|LOST/.test(task.state ?? '')) throw new Error(`${taskId} ended: ${task.lastUpdate?.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${taskId} never ran`);
  };
  const status = async (c: TitusExecutorClient): Promise<string> =>
    (await call(c.GetHostResources.bind(c), {})).status.find((s) => s.startsWith('network:')) ?? '';
  const sandboxOf = async (taskId: string): Promise<string> =>
    (await h.docker(['ps', '-aq', '--no-trunc', '--filter', `label=titus.task_id=${taskId}`, '--filter', 'label=titus.executor.role=sandbox'])).stdout.trim();
  const leases = (): Array<{ taskId: string; ipv4?: string }> =>
    existsSync(leaseFile) ? (JSON.parse(readFileSync(leaseFile, 'utf8')) as { leases: Array<{ taskId: string; ipv4?: string }> }).leases : [];
  /** The host's pieces, by name: what a test expects to match the live tasks exactly. */
  const hostPieces = async () => {
    const inv = await inventory(hostNs);
    const classes: string[] = [];
    for (const dev of inv.links) {
      for (const line of (await inNs(hostNs, ['tc', 'class', 'show', 'dev', dev])).split('\n')) {
        const id = /^class htb (\S+)/.exec(line)?.[1];
        if (id !== undefined) classes.push(`${dev}:${id}`);
      }
    }
    return { links: [...inv.links].sort(), nftTables: [...inv.nftTables].sort(), tcClasses: classes.sort() };
  };
  const expectedPieces = (taskIds: readonly string[]) => {
    const names = taskIds.map(namesForTask);
    return {
      links: names.flatMap((n) => [n.hostVeth, n.ifb]).sort(),
      nftTables: names.map((n) => n.nftTable).sort(),
      tcClasses: names.flatMap((n) => [`${n.hostVeth}:1:1`, `${n.hostVeth}:1:10`, `${n.ifb}:1:1`, `${n.ifb}:1:10`]).sort(),
    };
  };

  // The first executor: five long tasks, and one that ends while the executor is down.
  const firstDaemon = await serve.start();
  const first = firstDaemon.client;
  const live = await Promise.all(Array.from({ length: LIVE }, () => launch(first, 'sleep 300')));
  const shortLived = await launch(first, 'sleep 3');
  const containers = new Map<string, { containerId: string; address: string }>();
  for (const taskId of [...live, shortLived]) containers.set(taskId, await running(first, taskId));
  const netns = await Promise.all(
    [...live, shortLived].flatMap((id) => [sandboxOf(id).then((s) => witnessNetns(h, s)), witnessNetns(h, containers.get(id)?.containerId ?? '')]),
  );
  t.equal((await heldNetns(netns)).length, netns.length, 'each task\'s namespace is held by its sandbox and its container');
  t.same(await hostPieces(), expectedPieces([...live, shortLived]), 'six tasks: a veth, an IFB, their HTB classes and an nft table each');
  t.equal(leases().length, LIVE + 1, 'six leases in the lease file');

  await firstDaemon.crash();
  const shortContainer = containers.get(shortLived)?.containerId ?? '';
  await eventually('the short task exits while the executor is down', async () =>
    (await h.docker(['inspect', '-f', '{{.State.Running}}', shortContainer])).stdout.trim() === 'false',
  );

  const second = (await serve.start()).client;
  t.same(await hostPieces(), expectedPieces(live), 'after the restart: interfaces, tc classes and rules of exactly the five running tasks');
  t.same(
    leases().map((l) => `${l.taskId} ${l.ipv4}`).sort(),
    live.map((id) => `${id} ${containers.get(id)?.address}`).sort(),
    'the lease file holds exactly the five running tasks, at their addresses',
  );
  t.equal(await sandboxOf(shortLived), '', 'the ended task\'s sandbox is removed');
  t.ok((await Promise.all(live.map(sandboxOf))).every((id) => id !== ''), 'the running tasks keep their sandboxes');
  t.match(await status(second), new RegExp(`^network: local, ${253 - LIVE}/253 IPv4 free, ${LIVE * 128}/1000 Mbps allocated$`), 'GetHostResources');
  t.same(await census({ h, executorId, client: second, leaseFile, hostNs }), [], 'the census finds nothing but what the live tasks own');
  const unowned = await census({ h, executorId, leaseFile, hostNs, liveTaskIds: [] });
  for (const kind of [/^link tx/, /^link ti/, /^nft table titus_/, /^qdisc /, /^address lease /, /^container .*role sandbox/, /^container .*role main/]) {
    t.equal(unowned.filter((line) => kind.test(line)).length >= LIVE, true, `told no task is live, the census lists each task's ${kind.source}`);
  }

  // A new task gets an address no running task holds.
  const fresh = await launch(second, 'sleep 300');
  const freshAddress = (await running(second, fresh)).address;
  t.notOk(live.some((id) => containers.get(id)?.address === freshAddress), `the new task's ${freshAddress} is none of the running tasks'`);
  await call(second.KillTask.bind(second), { taskId: fresh, killWaitSeconds: 0 });

  // The tasks end (their containers exit); the restarted executor releases their networks.
  await h.docker(['kill', ...live.map((id) => containers.get(id)?.containerId ?? '')]);
  await eventually('every sandbox removed', async () => (await containersWithLabel(h, 'titus.executor.role', 'sandbox')).length === 0);
  await eventually('the fresh task ended', async () => /FINISHED|FAILED|KILLED|LOST/.test((await call(second.GetTask.bind(second), { taskId: fresh })).state ?? ''));
  t.same(await hostPieces(), { links: [], nftTables: [], tcClasses: [] }, 'no veth, IFB, tc class or nft table left');
  t.same(await inventory(hostNs), { links: [], nftTables: [], qdiscDevices: [] }, 'no qdisc either');
  t.same(leases(), [], 'no lease left');
  t.same(await heldNetns(netns), [], 'no task network namespace left (no process or mount holds one)');
  t.match(await status(second), /^network: local, 253\/253 IPv4 free, 0\/1000 Mbps allocated$/);
  // The restarted executor re-attached the tasks from their records and removed their containers when they exited.
  await eventually('the re-attached tasks ended', async () => {
    for (const id of [...live, shortLived]) if (!/FINISHED|FAILED|KILLED|LOST/.test((await call(second.GetTask.bind(second), { taskId: id })).state ?? '')) return false;
    return true;
  });
  const netnsChecks = [...live, shortLived].flatMap((taskId, i) => [netns[2 * i], netns[2 * i + 1]].map((w) => ({ taskId, held: async () => (w === undefined ? undefined : netnsHolder(w)) })));
  t.same(
    await settledCensus({ h, executorId, client: second, stateDir: join(dir, 'state'), leaseFile, hostNs, netns: netnsChecks }),
    [],
    'nothing left that no live task owns',
  );
  second.close();
  t.same(await containersWithLabel(h, 'titus.executor.id', executorId), [], 'no container left');
});
