import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExecutorError } from '../../src/common/errors.js';
import { JsonFileLeaseStore } from '../../src/vpc/lease-store.js';
import { namesForTask } from '../../src/vpc/naming.js';
import { macForTask } from '../../src/vpc/routing.js';
import type { NetworkAttachment } from '../../src/vpc/types.js';
import {
  listenOnce,
  sendText,
  createDriver,
  createHostNetns,
  createNetns,
  inNs,
  inventory,
  netnsPath,
  probeConnect,
  run,
  spec,
  testConfig,
} from './fixtures/netns.js';

interface JsonRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}
interface JsonAddr {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

const routesIn = async (ns: string, family: 4 | 6): Promise<JsonRoute[]> =>
  JSON.parse(await inNs(ns, ['ip', '-j', `-${family}`, 'route', 'show'])) as JsonRoute[];

const addressesIn = async (ns: string): Promise<string[]> =>
  (JSON.parse(await inNs(ns, ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as JsonAddr[]).flatMap((l) =>
    l.addr_info.filter((a) => !a.local.startsWith('fe80')).map((a) => `${a.local}/${a.prefixlen}`),
  );

const uniqueTaskId = (label: string): string => `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Asserts the fake host holds nothing any driver made. */
interface Asserts {
  same(found: unknown, wanted: unknown, message: string): boolean;
}

const assertNothingLeft = async (tt: Asserts, hostNs: string, label: string): Promise<void> => {
  const left = await inventory(hostNs);
  tt.same(left, { links: [], nftTables: [], qdiscDevices: [] }, `${label}: no veth, IFB, nft table or qdisc left on the host`);
};

t.test('two tasks get distinct addresses, routes and can exchange data', async (t) => {
  const hostNs = await createHostNetns(t);
  const taskA = await createNetns(t, 'a');
  const taskB = await createNetns(t, 'b');
  const driver = await createDriver(testConfig(hostNs));
  const total = driver.available().ipv4Total;

  const a = await driver.attach(spec(uniqueTaskId('a'), { wantIpv6: true, hostname: 'task-a' }), netnsPath(taskA));
  const b = await driver.attach(spec(uniqueTaskId('b'), { wantIpv6: true }), netnsPath(taskB));

  t.not(a.ipv4, b.ipv4, 'distinct IPv4 addresses');
  t.not(a.ipv6, b.ipv6, 'distinct IPv6 addresses');
  t.equal(a.gateway4, '198.18.10.1', 'gateway is the first usable address');
  t.equal(a.prefixLength4, 24);
  t.equal(a.details['hostname'], 'task-a', 'hostname passed through');
  t.ok(a.hostInterface.length <= 15 && a.hostInterface.startsWith('tx'), `host interface ${a.hostInterface}`);
  t.equal(a.hostInterface, namesForTask(a.taskId).hostVeth, 'host interface derived from task id');
  t.match(a.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'MAC reported');
  const eth0 = JSON.parse(await inNs(taskA, ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as Array<{ address: string; operstate: string }>;
  t.equal(eth0[0]?.address, a.mac, 'the MAC reported is the one eth0 has');
  t.equal(a.mac, macForTask(namesForTask(a.taskId).hash), 'fixed by the task id, locally administered');
  t.same(JSON.parse(JSON.stringify(a)), a, 'attachment is JSON-serialisable');
  t.equal(driver.available().ipv4Free, total - 2, 'two addresses in use');

  // Right after attach, inside each task netns: addresses, default routes, metadata routes.
  for (const [ns, attachment] of [[taskA, a], [taskB, b]] as const) {
    const label = attachment.taskId.split('-')[0] ?? '';
    t.same(await addressesIn(ns), [`${attachment.ipv4}/24`, `${attachment.ipv6}/64`], `task ${label} has its addresses on eth0`);
    const routes4 = await routesIn(ns, 4);
    t.ok(routes4.some((r) => r.dst === 'default' && r.gateway === '198.18.10.1' && r.dev === 'eth0'), `${label}: IPv4 default route via gateway`);
    t.ok(routes4.some((r) => r.dst === '169.254.169.254' && r.gateway === '198.18.10.1'), `${label}: metadata route via the host`);
    const routes6 = await routesIn(ns, 6);
    t.ok(routes6.some((r) => r.dst === 'default' && r.gateway === 'fd00:7175::1'), `${label}: IPv6 default route via gateway`);
    t.ok(routes6.some((r) => r.dst === 'fd00:ec2::254' && r.gateway === 'fd00:7175::1'), `${label}: IPv6 metadata route via the host`);
  }

  // Data both ways, IPv4 and IPv6, with busybox nc.
  const toA = await listenOnce(t, taskA, 9000);
  await sendText(taskB, a.ipv4 ?? '', 9000, 'hello from B\n');
  t.equal(await toA.received, 'hello from B\n', 'B reaches A over IPv4');
  const toB = await listenOnce(t, taskB, 9001);
  await sendText(taskA, b.ipv6 ?? '', 9001, 'hello from A\n');
  t.equal(await toB.received, 'hello from A\n', 'A reaches B over IPv6');

  await driver.detach(a);
  await driver.detach(b);
  await driver.detach(a); // idempotent
  t.equal(driver.available().ipv4Free, total, 'leases released');
  t.equal(driver.available().bandwidthMbpsAllocated, 0);
  await assertNothingLeft(t, hostNs, 'after detach');
  t.same(await routesIn(hostNs, 4), [], 'no host routes left');
});

t.test('task side sysctls: IPv6 off for an IPv4-only task, on without DAD for an IPv6 one; host side forwarding per veth', async (t) => {
  const hostNs = await createHostNetns(t);
  const v4 = await createNetns(t, 'v4');
  const v6 = await createNetns(t, 'v6');
  const driver = await createDriver(testConfig(hostNs));
  const a = await driver.attach(spec(uniqueTaskId('v4only'), { bandwidthMbps: 10 }), netnsPath(v4));
  const b = await driver.attach(spec(uniqueTaskId('dual'), { wantIpv6: true }), netnsPath(v6));
  const read = async (ns: string, key: string): Promise<string> => (await inNs(ns, ['sysctl', '-n', key])).trim();
  t.equal(await read(v4, 'net.ipv6.conf.all.disable_ipv6'), '1', 'IPv4-only: IPv6 off, as Docker\'s network mode none had it');
  t.equal(await read(v6, 'net.ipv6.conf.all.disable_ipv6'), '0', 'dual stack: IPv6 on');
  t.equal(await read(v6, 'net.ipv6.conf.eth0.accept_dad'), '0', 'dual stack: no DAD on eth0');
  for (const x of [a, b]) {
    t.equal(await read(hostNs, `net.ipv4.conf.${x.hostInterface}.forwarding`), '1', `forwarding on ${x.hostInterface}`);
    t.equal(await read(hostNs, `net.ipv6.conf.${x.hostInterface}.accept_dad`), '0', `no DAD on ${x.hostInterface}`);
  }
  t.equal(await read(hostNs, 'net.ipv4.conf.all.forwarding'), '0', 'never globally');
  await driver.detach(a);
  await driver.detach(b);
  await assertNothingLeft(t, hostNs, 'after detach');
});

t.test('host pieces left under the task\'s names are replaced', async (t) => {
  const hostNs = await createHostNetns(t);
  const task = await createNetns(t, 'left');
  const driver = await createDriver(testConfig(hostNs));
  const taskId = uniqueTaskId('leftover');
  const names = namesForTask(taskId);
  // What a crash between attach and GC could leave: the host veth (its peer elsewhere) and the IFB.
  await inNs(hostNs, ['ip', 'link', 'add', names.hostVeth, 'type', 'veth', 'peer', 'name', 'stale0']);
  await inNs(hostNs, ['ip', 'link', 'add', names.ifb, 'type', 'ifb']);
  const a = await driver.attach(spec(taskId, { bandwidthMbps: 10 }), netnsPath(task));
  t.same(await addressesIn(task), [`${a.ipv4}/24`], 'attached anyway');
  t.same((await inventory(hostNs)).links.sort(), [names.hostVeth, names.ifb].sort(), 'the leftovers were replaced, stale0 went with its veth');
  await driver.detach(a);
  await assertNothingLeft(t, hostNs, 'after detach');
});

t.test('concurrent attaches and detaches', async (t) => {
  const hostNs = await createHostNetns(t);
  const driver = await createDriver(testConfig(hostNs));
  const sandboxes = await Promise.all(Array.from({ length: 8 }, (_, i) => createNetns(t, `c${i}`)));
  const attachments = await Promise.all(
    sandboxes.map((ns, i) => driver.attach(spec(uniqueTaskId(`c${i}`), { bandwidthMbps: i % 2 === 0 ? 10 : 0, wantIpv6: true }), netnsPath(ns))),
  );
  t.equal(new Set(attachments.map((a) => a.ipv4)).size, 8, 'eight distinct IPv4 addresses');
  t.equal(new Set(attachments.map((a) => a.ipv6)).size, 8, 'eight distinct IPv6 addresses');
  t.equal(driver.available().bandwidthMbpsAllocated, 40);
  const [first, last] = [attachments[0], attachments[7]];
  t.equal(await probeConnect(sandboxes[0] ?? '', last?.ipv4 ?? '', 9, 1000), 'error ECONNREFUSED', 'first reaches last');
  t.equal(await probeConnect(sandboxes[7] ?? '', first?.ipv6 ?? '', 9, 1000), 'error ECONNREFUSED', 'last reaches first (IPv6)');
  await Promise.all(attachments.map((a) => driver.detach(a)));
  await assertNothingLeft(t, hostNs, 'after concurrent detach');
  t.equal(driver.available().ipv4Free, driver.available().ipv4Total);
});

t.test('security group allowing only tcp 8080 inbound', async (t) => {
  const hostNs = await createHostNetns(t);
  const server = await createNetns(t, 'srv');
  const client = await createNetns(t, 'cli');
  const driver = await createDriver(testConfig(hostNs));
  const s = await driver.attach(spec(uniqueTaskId('web'), { securityGroups: ['sg-web'] }), netnsPath(server));
  const c = await driver.attach(spec(uniqueTaskId('client')), netnsPath(client));
  t.teardown(() => Promise.allSettled([driver.detach(s), driver.detach(c)]));

  // Listeners on both ports, so a failure can only be the firewall.
  for (const port of [8080, 8081]) await listenOnce(t, server, port);
  t.equal(await probeConnect(client, s.ipv4 ?? '', 8080), 'connected', '8080 is allowed');
  t.equal(await probeConnect(client, s.ipv4 ?? '', 8081), 'timeout', '8081 is dropped');
  t.equal(await probeConnect(server, c.ipv4 ?? '', 8081, 300), 'error ECONNREFUSED', 'egress from the server is allowed');

  const rules = await inNs(hostNs, ['nft', 'list', 'table', 'inet', namesForTask(s.taskId).nftTable]);
  t.match(rules, /oifname "tx[0-9a-f]{12}" jump to_task/, 'rules live on the host, keyed on the host veth');
  const inTask = await inNs(server, ['nft', 'list', 'ruleset']);
  t.equal(inTask.trim(), '', 'nothing in the task netns a task could alter');
});

t.test('unknown security group is refused before anything is created', async (t) => {
  const hostNs = await createHostNetns(t);
  const task = await createNetns(t, 'task');
  const driver = await createDriver(testConfig(hostNs));
  const before = driver.available();
  const refusal = await driver
    .attach(spec(uniqueTaskId('bad'), { securityGroups: ['sg-open', 'sg-x'] }), netnsPath(task))
    .then(() => undefined, (err: unknown) => err);
  t.ok(isExecutorError(refusal, 'INVALID_ARGUMENT'), 'INVALID_ARGUMENT');
  t.equal(refusal instanceof Error ? refusal.message : '', 'unknown security group sg-x');
  t.same(driver.available(), before, 'no lease taken');
  await assertNothingLeft(t, hostNs, 'after refusal');
  t.same(await addressesIn(task).catch(() => []), [], 'task netns untouched');
});

t.test('a failing attach rolls back everything', async (t) => {
  const hostNs = await createHostNetns(t);
  const task = await createNetns(t, 'task');
  // An eth0 already in the sandbox makes the veth creation fail half-way.
  await inNs(task, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
  const driver = await createDriver(testConfig(hostNs));
  const before = driver.available();
  await t.rejects(driver.attach(spec(uniqueTaskId('fail'), { bandwidthMbps: 10 }), netnsPath(task)), { code: 'INTERNAL' });
  t.same(driver.available(), before, 'lease released');
  await assertNothingLeft(t, hostNs, 'after rollback');

  await t.rejects(driver.attach(spec(uniqueTaskId('nons')), '/proc/999999999/ns/net'), { code: 'FAILED_PRECONDITION' });
  await t.rejects(driver.attach(spec(uniqueTaskId('aborted')), netnsPath(task), AbortSignal.abort()), { name: 'AbortError' });
  const noV6 = await createDriver(testConfig(hostNs, { ipv6Cidr: undefined }));
  await t.rejects(noV6.attach(spec(uniqueTaskId('v6'), { wantIpv6: true }), netnsPath(task)), { code: 'FAILED_PRECONDITION' });
  await assertNothingLeft(t, hostNs, 'after precondition failures');
});

t.test('garbage collection after a crash, and restore', async (t) => {
  const hostNs = await createHostNetns(t);
  const crashed = await createNetns(t, 'crashed');
  const survivor = await createNetns(t, 'alive');
  const dir = await mkdtemp(join(tmpdir(), 'tt-vpc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const leaseFile = join(dir, 'leases.json');
  const config = testConfig(hostNs);

  // The "old" executor attaches two tasks, then dies without detaching.
  const before = await createDriver(config, new JsonFileLeaseStore(leaseFile));
  const lost = await before.attach(spec(uniqueTaskId('lost'), { bandwidthMbps: 50, wantIpv6: true }), netnsPath(crashed));
  const kept: NetworkAttachment = await before.attach(spec(uniqueTaskId('kept'), { bandwidthMbps: 30 }), netnsPath(survivor));

  // The new executor: leases come back from the lease file, the live task from its persisted attachment.
  const after = await createDriver(config, new JsonFileLeaseStore(leaseFile));
  await after.restore([kept]);
  t.equal(after.available().ipv4Free, after.available().ipv4Total - 2, 'both leases known after restart');
  t.equal(after.available().bandwidthMbpsAllocated, 30, 'bandwidth of the restored task accounted');

  const removed = await after.garbageCollect(new Set([kept.taskId]));
  const lostNames = namesForTask(lost.taskId);
  t.same(
    removed.map((r) => r.split(' (')[0]).sort(),
    [`ifb ${lostNames.ifb}`, `lease ${lost.taskId} ${lost.ipv4} ${lost.ipv6}`, `nft table inet ${lostNames.nftTable}`, `veth ${lostNames.hostVeth}`].sort(),
    'GC removed exactly the crashed task pieces',
  );
  t.same(await after.garbageCollect(new Set([kept.taskId])), [], 'a second GC finds nothing');
  const keptNames = namesForTask(kept.taskId);
  const left = await inventory(hostNs);
  t.same(left.links.sort(), [keptNames.ifb, keptNames.hostVeth].sort(), 'the live task keeps its veth and IFB');
  t.same(left.nftTables, [keptNames.nftTable], 'and its nft table');

  // A new task does not get the live task's address.
  const fresh = await createNetns(t, 'fresh');
  const next = await after.attach(spec(uniqueTaskId('next')), netnsPath(fresh));
  t.not(next.ipv4, kept.ipv4, 'restored address not handed out again');
  await after.detach(next);
  await after.detach(kept);
  await assertNothingLeft(t, hostNs, 'after detaching the rest');
  t.equal(after.available().ipv4Free, after.available().ipv4Total, 'no lease left');
  t.same(await new JsonFileLeaseStore(leaseFile).load(), [], 'lease file empty');
});

t.test('tasks in the executor’s own network namespace', async (t) => {
  // The production path (no hostNetns). Its own pool and names, only its own
  // veths, forwarding on those veths only, and teardown removes all of it.
  const taskA = await createNetns(t, 'ra');
  const taskB = await createNetns(t, 'rb');
  const driver = await createDriver(testConfig(undefined, { ipv4Cidr: '198.19.251.0/24', ipv6Cidr: 'fd00:7175:0:fb::/64' }));
  const a = await driver.attach(spec(uniqueTaskId('ra'), { wantIpv6: true }), netnsPath(taskA));
  t.teardown(() => driver.detach(a).catch(() => undefined));
  const b = await driver.attach(spec(uniqueTaskId('rb'), { wantIpv6: true }), netnsPath(taskB));
  t.teardown(() => driver.detach(b).catch(() => undefined));
  t.equal(await probeConnect(taskA, b.ipv4 ?? '', 9, 1000), 'error ECONNREFUSED', 'A reaches B over IPv4 (refused by B)');
  t.equal(await probeConnect(taskB, a.ipv6 ?? '', 9, 1000), 'error ECONNREFUSED', 'B reaches A over IPv6 (refused by A)');
  await driver.detach(a);
  await driver.detach(b);
  const links = (JSON.parse(await run(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
  t.notOk(links.includes(a.hostInterface) || links.includes(b.hostInterface), 'host veths gone');
});
