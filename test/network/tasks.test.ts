/**
 * Networked tasks through the whole executor: a real dockerd, the local
 * network driver, per-task sandbox containers, and a network namespace the
 * test creates standing in for the host (see fixtures/tasks.ts). Nothing is faked.
 */
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { probeConnect } from '../vpc/fixtures/netns.js';
import { call } from '../../src/cli/client.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';
import { hostnameFor } from '../../src/task/build-container-spec.js';
import type { TaskPart } from '../../src/task/task-part.js';
import { createHostNetns, inNs, leftovers, heldNetns, ncReceive, localNetwork, witnessNetns, networkOf, NOTHING_LEFT, runningAddress } from './fixtures/tasks.js';

/** A test part after the network part: tasks with this label get that OCI runtime, which the engine does not know. */
const RUNTIME_LABEL = 'test.oci-runtime';
const runtimeFromLabel: TaskPart = {
  name: 'test-runtime',
  acquire: async (launch) => {
    const runtime = launch.labels[RUNTIME_LABEL];
    return runtime === undefined ? {} : { runtime };
  },
  release: async () => undefined,
};

let h: Harness;
let ex: TestExecutor;
let hostNs: string;

t.before(async () => {
  h = await useHarness(t);
  hostNs = await createHostNetns(t);
  ex = await startTestExecutor(t, h, { network: localNetwork(hostNs) }, [runtimeFromLabel]);
});

/** Each test ends with nothing of the executor's left: no container, veth, IFB, qdisc, tc class or nft table. */
const test = (name: string, fn: (t: Test) => Promise<void>): void => {
  t.test(name, async (t) => {
    await fn(t);
    t.same(await leftovers(h, ex, hostNs), NOTHING_LEFT, 'nothing left: containers, host links, nft tables, qdiscs, tc classes');
  });
};

const busybox = (script: string, extra: ContainerInfo = {}): ContainerInfo => ({
  fullyQualifiedImage: h.images.busyboxRepo,
  process: { entrypoint: ['/bin/sh', '-c'], command: [script] },
  ...extra,
});

/** The first lines of every networked entrypoint: its address must already be there. */
const NETWORK_READY = [
  'ip -4 addr show dev eth0 | grep -q "inet $EC2_LOCAL_IPV4/" || { echo "no address before the entrypoint"; exit 9; }',
  'ip -4 route | grep -q "^default via 198.18.20.1 dev eth0" || { echo "no default route"; exit 10; }',
  'ip -4 route | grep -q "^169.254.169.254 via 198.18.20.1" || { echo "no metadata route"; exit 11; }',
].join('\n');

const hostStatus = async (executor: TestExecutor = ex): Promise<string> =>
  (await call(executor.client.GetHostResources.bind(executor.client), {})).status.find((s) => s.startsWith('network:')) ?? '';

test('two tasks get distinct addresses, see them before their entrypoint runs, and exchange data', async (t) => {
  const a = uniqueTaskId('net-a');
  const b = uniqueTaskId('net-b');
  await ex.launch({
    taskId: a,
    containerInfo: busybox(
      [
        NETWORK_READY,
        'grep -q "^$EC2_LOCAL_IPV4[[:space:]]$(hostname)$" /etc/hosts || exit 13',
        'grep -q "^127.0.0.1[[:space:]]localhost$" /etc/hosts || { echo "no localhost in /etc/hosts"; exit 14; }',
        'grep -q "^nameserver " /etc/resolv.conf || { echo "no nameserver in /etc/resolv.conf"; exit 15; }',
        '[ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6)" = 1 ] || { echo "IPv6 on in an IPv4-only task"; exit 16; }',
        'echo "env $EC2_LOCAL_IPV4 $NETFLIX_NETWORK_MODE host=$(hostname) etc-hostname=$(cat /etc/hostname)"',
        ncReceive(9000, '/dev/stdout'),
      ].join('\n'),
    ),
  });
  const addressA = await runningAddress(ex, a);
  await ex.launch({
    taskId: b,
    containerInfo: busybox(
      `${NETWORK_READY}\nfor i in $(seq 100); do echo "hello from $EC2_LOCAL_IPV4" | nc ${addressA} 9000 && exit 0; sleep 0.1; done; exit 7`,
    ),
  });
  const addressB = await runningAddress(ex, b);
  t.not(addressA, addressB, 'distinct addresses');
  t.match(addressA, /^198\.18\.20\.\d+$/, `A has ${addressA} from the pool`);
  t.match(addressB, /^198\.18\.20\.\d+$/, `B has ${addressB} from the pool`);

  const endB = (await ex.waitForState(b, 'terminal')).at(-1);
  t.equal(endB?.state, 'TASK_STATE_FINISHED', `B sent its line: ${endB?.message}`);
  const updatesA = await ex.waitForState(a, 'terminal');
  t.equal(updatesA.at(-1)?.state, 'TASK_STATE_FINISHED', `A received it: ${updatesA.at(-1)?.message}`);
  const outputA = (await ex.get(a)).outputTail ?? '';
  t.match(
    outputA,
    `env ${addressA} IPV4_ONLY host=${hostnameFor(a)} etc-hostname=${hostnameFor(a)}`,
    'EC2_LOCAL_IPV4, NETFLIX_NETWORK_MODE, the hostname and /etc/hostname inside the task',
  );
  t.match(outputA, `hello from ${addressB}`, 'A received B\'s line over the network');

  // Status: the address from the 'starting container' update on, and on every later one.
  const starting = updatesA.findIndex((u) => u.message === 'starting container');
  t.ok(starting > 0, 'a starting container update');
  t.ok(updatesA.slice(starting).every((u) => u.network?.ipv4Address === addressA), 'every update from starting container on carries the address');
  t.notOk(updatesA.slice(0, starting).some((u) => u.network?.ipv4Address), 'none before');
  t.match(networkOf(updatesA), { ipv4Address: addressA, networkMode: 'Ipv4Only', hostname: hostnameFor(a), isRoutableIp: false });
  t.notOk(networkOf(updatesA)?.ipv6Address, 'no IPv6 address');
});

test('labels, host resources and IPv6 of a running task', async (t) => {
  const taskId = uniqueTaskId('net-v6');
  await ex.launch({
    taskId,
    containerInfo: busybox(
      [
        NETWORK_READY,
        'ip -6 addr show dev eth0 | grep -q "inet6 $EC2_IPV6S/64" || { echo "no IPv6 address"; exit 12; }',
        'echo "env $NETFLIX_NETWORK_MODE $EC2_IPV6S"',
        'sleep 30',
      ].join('\n'),
      { passthroughAttributes: { 'titusParameter.agent.assignIPv6Address': 'true' } },
    ),
    resources: { networkMbps: 50 },
  });
  const updates = await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  const network = networkOf(updates);
  t.match(network, { networkMode: 'Ipv6AndIpv4', ipv6Address: /^fd00:7175:20::/ }, 'dual stack reported');
  const task = await ex.get(taskId);
  const labels = JSON.parse((await h.docker(['inspect', '-f', '{{json .Config.Labels}}', task.containerId ?? ''])).stdout) as Record<string, string>;
  t.equal(labels['titus.net.ipv4'], network?.ipv4Address, 'titus.net.ipv4');
  t.equal(labels['titus.vpc.ipv4'], network?.ipv4Address, 'titus.vpc.ipv4');
  t.match(JSON.parse(labels['titus.executor.network'] ?? '{}'), { taskId, driver: 'local', ipv4: network?.ipv4Address, ipv6: network?.ipv6Address });
  const mode = (await h.docker(['inspect', '-f', '{{.HostConfig.NetworkMode}} {{.Config.Hostname}}', task.containerId ?? ''])).stdout.trim();
  const sandbox = (await h.docker(['ps', '-q', '--no-trunc', '--filter', `label=titus.task_id=${taskId}`, '--filter', 'label=titus.executor.role=sandbox'])).stdout.trim();
  t.equal(mode, `container:${sandbox} ${hostnameFor(taskId)}`, 'the task joins its sandbox, whose hostname it shows');
  const sandboxLabels = JSON.parse((await h.docker(['inspect', '-f', '{{json .Config.Labels}}', sandbox])).stdout) as Record<string, string>;
  t.equal(
    (await h.docker(['inspect', '-f', '{{.Config.NetworkDisabled}} {{.HostConfig.NetworkMode}}', sandbox])).stdout.trim(),
    'true none',
    'the sandbox has no engine networking: the driver wires its namespace alone',
  );
  const mounts = JSON.parse((await h.docker(['inspect', '-f', '{{json .Mounts}}', task.containerId ?? ''])).stdout) as Array<{ Source: string; Destination: string }>;
  const sandboxDir = (await h.docker(['inspect', '-f', '{{.HostnamePath}}', sandbox])).stdout.trim().replace(/\/hostname$/, '');
  t.same(
    mounts.map((m) => `${m.Source} ${m.Destination}`).sort(),
    [`${sandboxDir}/hosts /etc/hosts`, `${sandboxDir}/resolv.conf /etc/resolv.conf`],
    'the task mounts /etc/hosts and /etc/resolv.conf from the sandbox directory',
  );
  t.match(sandboxLabels, { 'titus.executor.id': ex.config.executorId, 'titus.task_id': taskId, 'titus.executor.role': 'sandbox' });
  t.match(await hostStatus(), /^network: local, 252\/253 IPv4 free, \d+ IPv6 free, 50\/1000 Mbps allocated$/, 'GetHostResources');
  const netns = [await witnessNetns(h, sandbox), await witnessNetns(h, task.containerId ?? '')];
  t.equal(netns[0]?.ns, netns[1]?.ns, 'the task runs in its sandbox\'s network namespace');
  t.equal((await heldNetns(netns)).length, 2, 'held by both while the task runs');
  await ex.kill(taskId, 0);
  t.equal((await ex.waitForState(taskId, 'terminal')).at(-1)?.state, 'TASK_STATE_KILLED');
  t.match((await ex.get(taskId)).outputTail, /env DUAL_STACK fd00:7175:20::/, 'NETFLIX_NETWORK_MODE and EC2_IPV6S');
  t.same(await heldNetns(netns), [], 'nothing holds the task\'s network namespace any more');
  t.match(await hostStatus(), /^network: local, 253\/253 IPv4 free, \d+ IPv6 free, 0\/1000 Mbps allocated$/, 'all free again');
});

test('a security group that allows only tcp 8080 in: 8080 connects, 8081 does not', async (t) => {
  const server = uniqueTaskId('net-sg');
  await ex.launch({
    taskId: server,
    containerInfo: busybox('nc -ll -p 8080 -e cat & nc -ll -p 8081 -e cat & wait', { networkConfigInfo: { securityGroups: ['sg-web'] } }),
  });
  const address = await runningAddress(ex, server);
  const client = uniqueTaskId('net-sgc');
  const clientEnd = await ex.run({
    taskId: client,
    containerInfo: busybox(`for i in $(seq 100); do echo ping | nc ${address} 8080 | grep -q ping && { echo open-8080; exit 0; }; sleep 0.1; done; exit 7`),
  });
  t.equal(clientEnd.at(-1)?.state, 'TASK_STATE_FINISHED', 'another task reaches 8080');
  t.match((await ex.get(client)).outputTail, 'open-8080');
  // The host namespace is a peer like any other (its gateway address is inside the allowed range).
  t.equal(await probeConnect(hostNs, address, 8080), 'connected', '8080 from the host');
  t.equal(await probeConnect(hostNs, address, 8081), 'timeout', '8081 is dropped');
  const sandbox = (await h.docker(['ps', '-q', '--filter', `label=titus.task_id=${server}`, '--filter', 'label=titus.executor.role=sandbox'])).stdout.trim();
  const pid = (await h.docker(['inspect', '-f', '{{.State.Pid}}', sandbox])).stdout.trim();
  const listening = await inNs(hostNs, ['nsenter', `--net=/proc/${pid}/ns/net`, 'ss', '-Hltn']);
  t.match(listening, /:8081\b/, 'while something listens on 8081 inside the task');
  await ex.kill(server, 0);
  await ex.waitForState(server, 'terminal');
});

test('an unknown security group fails the launch with invalidRequest, creating nothing', async (t) => {
  const taskId = uniqueTaskId('net-badsg');
  const before = await hostStatus();
  const updates = await ex.run({ taskId, containerInfo: busybox('exit 0', { networkConfigInfo: { securityGroups: ['sg-web', 'sg-nope'] } }) });
  const end = updates.at(-1);
  t.equal(end?.state, 'TASK_STATE_FAILED');
  t.equal(end?.reasonCode, 'invalidRequest');
  t.match(end?.message, /Error encountered before even starting the container: unknown security group sg-nope/);
  t.notOk(updates.some((u) => u.network?.ipv4Address), 'no address reported');
  t.equal(await hostStatus(), before, 'no address or bandwidth held');
});

test('after network setup, engine errors and kills at any moment leave nothing behind', async (t) => {
  // The engine refuses to create the task container (an OCI runtime it does not know) ...
  const created = (await ex.run({ taskId: uniqueTaskId('net-create'), containerInfo: busybox('exit 0'), labels: { [RUNTIME_LABEL]: 'no-such-runtime' } })).at(-1);
  t.equal(created?.state, 'TASK_STATE_LOST', `create failed after the network was set up: ${created?.message}`);
  t.match(created?.message, /no-such-runtime/);
  // ... or to start it.
  const started = (await ex.run({ taskId: uniqueTaskId('net-start'), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['/no/such/binary'] } } })).at(-1);
  t.equal(started?.state, 'TASK_STATE_FAILED', `start failed after the network was set up: ${started?.message}`);
  // Kills landing during the pull, the sandbox, the attach, the create and the run.
  const ids = [0, 30, 60, 120, 250, 500].map((delay) => ({ delay, taskId: uniqueTaskId(`net-kill${delay}`) }));
  await Promise.all(
    ids.map(async ({ delay, taskId }) => {
      await ex.launch({ taskId, containerInfo: busybox('sleep 30') });
      await new Promise((r) => setTimeout(r, delay));
      await ex.kill(taskId, 0);
    }),
  );
  for (const { delay, taskId } of ids) {
    t.equal((await ex.waitForState(taskId, 'terminal')).at(-1)?.state, 'TASK_STATE_KILLED', `killed after ${delay} ms`);
  }
  t.match(await hostStatus(), /^network: local, 253\/253 IPv4 free/, 'every lease released');
});

test('a pool of 4 addresses: the 5th concurrent task is refused; after one ends the next one runs', async (t) => {
  const poolNs = await createHostNetns(t);
  const pool = await startTestExecutor(t, h, {
    executorId: `${ex.config.executorId}-pool`,
    network: localNetwork(poolNs, { ipv4Cidr: '198.18.21.0/29', ipv6Cidr: undefined, reservedAddresses: ['198.18.21.6'] }),
  });
  t.match(await hostStatus(pool), /^network: local, 4\/4 IPv4 free/);
  await t.rejects(
    pool.launch({ taskId: uniqueTaskId('pool-v6'), containerInfo: busybox('true', { passthroughAttributes: { 'titusParameter.agent.assignIPv6Address': 'true' } }) }),
    { code: grpc.status.FAILED_PRECONDITION, details: /no IPv6 pool/ },
    'a host without IPv6 refuses an IPv6 task at once',
  );
  const ids = [1, 2, 3, 4].map((i) => uniqueTaskId(`pool${i}`));
  await Promise.all(ids.map((taskId) => pool.launch({ taskId, containerInfo: busybox('sleep 30') })));
  const addresses = await Promise.all(ids.map((taskId) => runningAddress(pool, taskId)));
  t.equal(new Set(addresses).size, 4, `four distinct addresses: ${addresses.join(' ')}`);
  const fifth = uniqueTaskId('pool5');
  await t.rejects(pool.launch({ taskId: fifth, containerInfo: busybox('sleep 30') }), {
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: /no task address free on this host: 4 of 4 addresses leased/,
  });
  await t.rejects(pool.get(fifth), { code: grpc.status.NOT_FOUND }, 'a refused launch leaves no task');
  await pool.kill(ids[0] ?? '', 0);
  await pool.waitForState(ids[0] ?? '', 'terminal');
  await pool.launch({ taskId: fifth, containerInfo: busybox('sleep 30') });
  t.equal(await runningAddress(pool, fifth), addresses[0], 'the fifth runs, on the address the first gave back');
  for (const taskId of [...ids.slice(1), fifth]) await pool.kill(taskId, 0);
  await Promise.all([...ids.slice(1), fifth].map((taskId) => pool.waitForState(taskId, 'terminal')));
  t.same(await leftovers(h, pool, poolNs), NOTHING_LEFT, 'nothing left of the pool executor');
  t.match(await hostStatus(pool), /^network: local, 4\/4 IPv4 free/);
});

test('the packet filter: a task with NET_ADMIN cannot send from an address that is not its own', async (t) => {
  const status = (await call(ex.client.GetHostResources.bind(ex.client), {})).status.find((s) => s.startsWith('packet filter:')) ?? '';
  t.match(status, /^packet filter: eBPF via /, `a filter protects tasks: ${status}`);
  const receiver = uniqueTaskId('net-rx');
  // Accepts one TCP connection on 9100 and prints what it carried; then says whether a SYN from
  // the spoofed address ever arrived (a half-open entry for 198.18.20.250, FA1412C6 in /proc/net/tcp).
  const seen = 'grep -qi " FA1412C6:" /proc/net/tcp && echo "saw a SYN from the spoofed address" || echo "no SYN from the spoofed address"';
  await ex.launch({ taskId: receiver, containerInfo: busybox(`${NETWORK_READY}\n${ncReceive(9100, '/dev/stdout')}\n${seen}`) });
  const receiverAddress = await runningAddress(ex, receiver);
  const sender = uniqueTaskId('net-tx');
  const spoofed = '198.18.20.250';
  await ex.launch({
    taskId: sender,
    containerInfo: busybox(
      [
        NETWORK_READY,
        // Root in its own namespace: a second address, and a route that sends from it.
        `ip addr add ${spoofed}/32 dev eth0 || exit 20`,
        `ip route add ${receiverAddress}/32 via 198.18.20.1 dev eth0 src ${spoofed} || exit 21`,
        `echo spoofed | timeout 3 nc ${receiverAddress} 9100 && { echo "spoofed connection went through"; exit 22; }`,
        `ip route del ${receiverAddress}/32`,
        `for i in $(seq 50); do echo genuine | nc ${receiverAddress} 9100 && exit 0; sleep 0.1; done; exit 23`,
      ].join('\n'),
      { capabilities: { add: ['NET_ADMIN'] } },
    ),
  });
  const endSender = (await ex.waitForState(sender, 'terminal')).at(-1);
  t.equal(endSender?.state, 'TASK_STATE_FINISHED', `the sender added an address and sent: ${endSender?.message}`);
  await ex.waitForState(receiver, 'terminal');
  const got = (await ex.get(receiver)).outputTail ?? '';
  t.match(got, /genuine/, 'packets from the task\'s own address arrive');
  t.notMatch(got, /^spoofed$/m, 'no data from an address that is not the task\'s');
  t.match(got, /no SYN from the spoofed address/, 'not even its first packet reached the peer');
});

test('a container holding the sandbox name that this executor did not make is never touched', async (t) => {
  const taskId = uniqueTaskId('net-foreign');
  const name = `titus-sandbox-${taskId}`;
  await h.docker(['pull', h.images.busybox]);
  await h.docker(['create', '--name', name, '--network', 'none', h.images.busybox, 'sleep', '1']);
  t.teardown(() => h.docker(['rm', '-f', name], { allowFailure: true }));
  await ex.launch({ taskId, containerInfo: busybox('exit 0') });
  const end = (await ex.waitForState(taskId, 'terminal')).at(-1);
  t.equal(end?.state, 'TASK_STATE_FAILED');
  t.equal(end?.reasonCode, 'invalidRequest');
  t.match(end?.message ?? '', /does not belong to this executor/);
  t.equal((await h.docker(['inspect', '-f', '{{.Name}}', name], { allowFailure: true })).stdout.trim(), `/${name}`, 'the foreign container is still there');
  await h.docker(['rm', '-f', name]); // before the leak check, which counts only this executor's pieces
});
