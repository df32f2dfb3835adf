/**
 * Egress for local tasks (network.local.egress): source NAT of the pool
 * through one host interface, security groups' egress rules still applied.
 * Everything lives in namespaces this test creates: a "host" namespace (the
 * driver's hostNetns) and an "outside" namespace behind the host's uplink, a
 * veth pair the test makes. The outside has no route to the task pool, so a
 * task's connection can only be answered through the host's NAT. Nothing is
 * sent outside these namespaces.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { EGRESS_TABLE } from '../../src/vpc/egress.js';
import type { NetworkAttachment } from '../../src/vpc/types.js';
import { listenOnce, sendText, createDriver, createHostNetns, createNetns, inNs, inventory, netnsPath, probeConnect, spec, testConfig } from '../vpc/fixtures/netns.js';

const HOST_UPLINK = '198.18.99.1';
const OUTSIDE = '198.18.99.2';
const TIGHT = { ingress: [], egress: [{ protocol: 'tcp', ports: [9999, 9999], cidrs: ['198.18.99.0/24'] }] };

const haveTools = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'nft', 'nsenter', 'busybox']) {
    if ((await runCommand(['sh', '-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) return false;
  }
  return true;
};

/** A host namespace with an uplink to a new outside namespace, and a default route through it (all test-made). */
const hostWithOutside = async (t: { teardown(fn: () => unknown): void }): Promise<{ hostNs: string; outsideNs: string }> => {
  const hostNs = await createHostNetns(t);
  const outsideNs = await createNetns(t, 'outside');
  await inNs(hostNs, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'out0', 'netns', outsideNs]);
  await inNs(hostNs, ['ip', 'addr', 'add', `${HOST_UPLINK}/24`, 'dev', 'up0']);
  await inNs(hostNs, ['ip', 'link', 'set', 'up0', 'up']);
  await inNs(hostNs, ['ip', 'route', 'add', 'default', 'via', OUTSIDE, 'dev', 'up0']);
  await inNs(outsideNs, ['ip', 'addr', 'add', `${OUTSIDE}/24`, 'dev', 'out0']);
  await inNs(outsideNs, ['ip', 'link', 'set', 'out0', 'up']);
  return { hostNs, outsideNs };
};

/** A server in a namespace that answers each connection with the peer address it sees, then closes. */
const echoPeerAddress = (t: { teardown(fn: () => unknown): void }, ns: string, port: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const program = `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, ''))).listen(${port}, () => console.log('listening'))`;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => child.kill('SIGKILL'));
    child.once('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
  });

const skip = (await haveTools()) ? false : 'needs root, ip, nft, nsenter and busybox';

t.test('a local task reaches an outside namespace only with egress on and a security group that allows it', { skip }, async (t) => {
  const { hostNs, outsideNs } = await hostWithOutside(t);
  const task = await createNetns(t, 'egress');
  const securityGroups = { 'sg-open': { ingress: [], egress: 'allow-all' }, 'sg-tight': TIGHT };

  // Egress off (the default): no way out.
  const off = await createDriver(testConfig(hostNs, { securityGroups }));
  let a: NetworkAttachment = await off.attach(spec('egress-off', { securityGroups: ['sg-open'] }), netnsPath(task));
  const listener = await listenOnce(t, outsideNs, 8080);
  t.equal(await probeConnect(task, OUTSIDE, 8080), 'timeout', 'egress off: the outside cannot answer a pool address');
  await off.detach(a);
  listener.stop();

  // Egress on, the uplink named by the default route.
  const on = await createDriver(testConfig(hostNs, { securityGroups, egress: { masquerade: true } }));
  t.ok(on.statusLines?.().some((l) => /^egress: source NAT of 198\.18\.10\.0\/24.* through up0/.test(l)), `status: ${on.statusLines?.().join(' | ')}`);
  const ruleset = await inNs(hostNs, ['nft', 'list', 'table', 'inet', EGRESS_TABLE]);
  t.match(ruleset, /oifname "up0" ip saddr 198\.18\.10\.0\/24 masquerade/);
  a = await on.attach(spec('egress-open', { securityGroups: ['sg-open'] }), netnsPath(task));
  await listenOnce(t, outsideNs, 8080);
  t.equal(await probeConnect(task, OUTSIDE, 8080), 'connected', 'egress on, all egress allowed: the task reaches the outside');
  await echoPeerAddress(t, outsideNs, 8081);
  const peer = await runCommand(['ip', 'netns', 'exec', task, 'busybox', 'nc', '-w', '2', OUTSIDE, '8081'], { input: '', timeoutMs: 10_000, allowFailure: true });
  t.equal(peer.stdout.trim(), HOST_UPLINK, 'the outside sees the host uplink address, not the pool address (masquerade)');
  await on.detach(a);

  a = await on.attach(spec('egress-tight', { securityGroups: ['sg-tight'] }), netnsPath(task));
  await listenOnce(t, outsideNs, 8080);
  await listenOnce(t, outsideNs, 9999);
  t.equal(await probeConnect(task, OUTSIDE, 8080), 'timeout', 'egress on, but the group allows only tcp/9999: 8080 is dropped');
  t.equal(await probeConnect(task, OUTSIDE, 9999), 'connected', 'and tcp/9999 gets out');
  await on.detach(a);

  // The uplink forwards only to task veths: the outside cannot use the host as a router to its other interfaces.
  t.match(await inNs(hostNs, ['nft', 'list', 'table', 'inet', EGRESS_TABLE]), /iifname "up0" oifname != "tx\*" drop/);
});

t.test('rules go with the task: nothing of a task is left after the executor is killed and restarted', { skip }, async (t) => {
  const { hostNs } = await hostWithOutside(t);
  const task = await createNetns(t, 'egress-census');
  const config = testConfig(hostNs, { egress: { masquerade: true, interface: 'up0' } });
  const first = await createDriver(config);
  await first.attach(spec('census-1'), netnsPath(task));
  const during = await inventory(hostNs);
  t.equal(during.nftTables.filter((n) => n !== EGRESS_TABLE).length, 1, 'the task has its table');
  // kill -9: the driver is simply gone. The restarted one finds no live task and collects.
  const second = await createDriver(config);
  const removed = await second.garbageCollect(new Set());
  t.ok(removed.some((r) => r.startsWith('nft table inet titus_')), `GC removed the task table: ${removed.join(', ')}`);
  const after = await inventory(hostNs);
  t.same(after.links, ['up0'], 'no task link left (only the test uplink)');
  t.same(after.nftTables, [EGRESS_TABLE], 'only the pool-wide NAT table, which belongs to the config, not to a task');
  t.same(after.qdiscDevices.filter((q) => !q.startsWith('up0:')), [], 'no task qdisc left');
});

t.test('a published port answers from the outside namespace, as the task security groups allow, and goes with the task', { skip }, async (t) => {
  const { hostNs, outsideNs } = await hostWithOutside(t);
  const taskNs = await createNetns(t, 'published');
  const otherNs = await createNetns(t, 'published2');
  const securityGroups = {
    'sg-web': { ingress: [{ protocol: 'tcp', ports: [80, 80], cidrs: ['198.18.99.0/24'] }], egress: 'allow-all' },
    'sg-closed': { ingress: [], egress: 'allow-all' },
  };
  const noEgress = await createDriver(testConfig(hostNs, { securityGroups }));
  await t.rejects(noEgress.attach(spec('pub-noegress', { securityGroups: ['sg-web'], publishedPorts: '8080:80' }), netnsPath(taskNs)), {
    code: 'FAILED_PRECONDITION',
    message: /published ports need network\.local\.egress\.masquerade/,
  });
  t.throws(() => noEgress.validate?.(spec('pub-bad', { publishedPorts: '8080' })), { code: 'INVALID_ARGUMENT' }, 'a malformed entry is the request\'s fault');

  const driver = await createDriver(testConfig(hostNs, { securityGroups, egress: { masquerade: true, interface: 'up0' } }));
  const a = await driver.attach(spec('pub-web', { securityGroups: ['sg-web'], publishedPorts: '8080:80' }), netnsPath(taskNs));
  t.equal(a.details['publishedPorts'], '8080:80/tcp');
  const listener = await listenOnce(t, taskNs, 80);
  await sendText(outsideNs, HOST_UPLINK, 8080, 'hello from outside\n');
  t.equal((await listener.received).trim(), 'hello from outside', 'the outside reaches the task at host:8080');
  await t.rejects(driver.attach(spec('pub-clash', { securityGroups: ['sg-web'], publishedPorts: '8080:81' }), netnsPath(otherNs)), { code: 'RESOURCE_EXHAUSTED' }, 'one task per host port');

  // The same port on a task whose groups let nothing in: the DNAT happens, the security group drops it.
  const b = await driver.attach(spec('pub-closed', { securityGroups: ['sg-closed'], publishedPorts: '9090:80' }), netnsPath(otherNs));
  await listenOnce(t, otherNs, 80);
  t.equal(await probeConnect(outsideNs, HOST_UPLINK, 9090), 'timeout', 'no ingress rule, no connection');
  await driver.detach(b);

  await driver.detach(a);
  t.not(await probeConnect(outsideNs, HOST_UPLINK, 8080), 'connected', 'the port goes with the task');
  t.same((await inventory(hostNs)).nftTables, [EGRESS_TABLE], 'no task table left');
  const c = await driver.attach(spec('pub-again', { securityGroups: ['sg-web'], publishedPorts: '8080:80' }), netnsPath(otherNs));
  t.pass('the port is free again once its task is gone');
  await driver.detach(c);
});
