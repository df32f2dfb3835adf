/**
 * The warm pool with the local network driver: a task takes a started pooled
 * sandbox, the driver attaches it (veth, address, routes, HTB, nft table) and
 * the hook (through the fake oci-add-hooks, which runs the real runc) gives it
 * its own hostname. Host pieces live in a namespace the test created.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, useHarness, type Harness } from '../harness/index.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { settledCensus } from '../helpers/census.js';
import { call } from '../../src/cli/client.js';
import { hostnameFor } from '../../src/task/build-container-spec.js';
import { createHostNetns, localNetwork } from '../network/fixtures/tasks.js';

const POOL_SIZE = 2;
let h: Harness;
let ex: TestExecutor;
let hostNs: string;
let dir: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'titus-pool-local-'));
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath });
  h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  hostNs = await createHostNetns(t);
  ex = await startTestExecutor(t, h, {
    network: localNetwork(hostNs, { ipv6Cidr: undefined }),
    sandboxPool: { size: POOL_SIZE },
    gpu: { hookConfigPath, lockDir: join(dir, 'locks'), nvidiaSmiPath: join(dir, 'no-nvidia-smi'), deviceNodePath: join(dir, 'no-nvidia0') },
  });
});
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const poolLine = async (): Promise<string> => (await call(ex.client.GetHostResources.bind(ex.client), {})).status.find((s) => s.startsWith('sandbox pool:')) ?? '';
const untilFull = async (): Promise<string> => {
  for (let i = 0; i < 300; i++) {
    const line = await poolLine();
    if (line.startsWith(`sandbox pool: ${POOL_SIZE}/${POOL_SIZE} ready`)) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  return poolLine();
};

/** Its address and routes before the entrypoint, then what it sees of itself, its hostname first among those. */
const SCRIPT = [
  'ip -4 addr show dev eth0 | grep -q "inet $EC2_LOCAL_IPV4/" || { echo "no address before the entrypoint"; exit 9; }',
  'ip -4 route | grep -q "^default via 198.18.20.1 dev eth0" || { echo "no default route"; exit 10; }',
  'hostname; cat /etc/hostname; grep -c "^$EC2_LOCAL_IPV4\\s$(hostname)$" /etc/hosts; readlink /proc/self/ns/net; echo "$EC2_LOCAL_IPV4"; sleep 1',
].join('\n');

interface Seen {
  readonly taskId: string;
  readonly lines: string[];
  readonly sandboxRole: string;
  readonly networkMode: string;
}

const run = async (t: Test, taskId: string): Promise<Seen> => {
  await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { entrypoint: ['/bin/sh', '-c'], command: [SCRIPT] } } });
  await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const containerId = (await ex.get(taskId)).containerId ?? '';
  const networkMode = (await h.docker(['inspect', '-f', '{{.HostConfig.NetworkMode}}', containerId])).stdout.trim();
  const sandboxRole = (await h.docker(['inspect', '-f', '{{index .Config.Labels "titus.executor.role"}}', networkMode.replace(/^container:/, '')])).stdout.trim();
  const updates = await ex.waitForState(taskId, 'TASK_STATE_FINISHED');
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', updates.at(-1)?.message ?? '');
  return { taskId, lines: ((await ex.get(taskId)).outputTail ?? '').trim().split('\n'), sandboxRole, networkMode };
};

t.test('local driver: tasks attach to pooled sandboxes, each with its own hostname, address, namespace and files', async (t) => {
  t.match(await untilFull(), `${POOL_SIZE}/${POOL_SIZE} ready`);
  const seen = await Promise.all([run(t, uniqueTaskId('pl')), run(t, uniqueTaskId('pl'))]);
  for (const s of seen) {
    t.equal(s.sandboxRole, 'pooled-sandbox', 'the task joined a pooled sandbox');
    t.equal(s.lines[0], hostnameFor(s.taskId), '`hostname` is its own');
    t.equal(s.lines[1], hostnameFor(s.taskId), '/etc/hostname is its own');
    t.equal(s.lines[2], '1', '/etc/hosts maps its own name to its own address');
  }
  const [a, b] = seen as [Seen, Seen];
  t.not(a.networkMode, b.networkMode, 'two sandboxes');
  t.not(a.lines[3], b.lines[3], 'two namespaces');
  t.not(a.lines[4], b.lines[4], 'two addresses');
  t.match(await poolLine(), /2 launches pooled, 0 fell back/);
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, hostNs, poolSize: POOL_SIZE }), [], 'nothing left but the pool: no veth, qdisc, nft table, lease or sandbox of the ended tasks');
  await untilFull();
  await ex.stop();
  t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'a stopped executor leaves no sandbox behind');
});
