import t from 'tap';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isExecutorError } from '../../src/common/errors.js';
import { canonicalAddress, formatAddress, parseAddress, parseCidr } from '../../src/vpc/addresses.js';
import { Ipam } from '../../src/vpc/ipam.js';
import { JsonFileLeaseStore, type Lease, type LeaseStore } from '../../src/vpc/lease-store.js';

/** 198.18.0.0/29: .0 network, .1 gateway, .7 broadcast, .6 reserved → .2-.5 usable. */
const fourAddressPool = (store?: LeaseStore): Ipam =>
  new Ipam({ ipv4Cidr: '198.18.0.0/29', reservedAddresses: ['198.18.0.6'], ...(store === undefined ? {} : { store }) });

const errorOf = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (err: unknown) => err);

t.test('addresses', async (t) => {
  t.equal(formatAddress(parseAddress('fd00:7175:0:0:0:0:0:1'), 6), 'fd00:7175::1', 'longest zero run compressed');
  t.equal(canonicalAddress('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'first of equal runs, lower case');
  t.equal(canonicalAddress('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
  t.equal(canonicalAddress('::'), '::');
  t.equal(canonicalAddress('198.018.0.1'.replace('018', '18')), '198.18.0.1');
  t.equal(parseCidr('198.18.0.77/24').text, '198.18.0.0/24', 'host bits cleared');
  t.throws(() => parseCidr('198.18.0.0/33'));
});

t.test('a pool of 4 addresses refuses the 5th', async (t) => {
  const ipam = fourAddressPool();
  t.same(ipam.usage(), { ipv4Free: 4, ipv4Total: 4 });
  t.equal(ipam.pool4.gatewayText, '198.18.0.1', 'gateway = first usable address');
  const leases = [];
  for (let i = 1; i <= 4; i++) leases.push(await ipam.allocate(`task-${i}`, { ipv6: false }));
  t.same(leases.map((l) => l.ipv4), ['198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.5'], 'network, gateway, reserved and broadcast skipped');
  const err = await errorOf(ipam.allocate('task-5', { ipv6: false }));
  t.ok(isExecutorError(err, 'RESOURCE_EXHAUSTED'), 'RESOURCE_EXHAUSTED');
  t.equal((err as Error).message, 'IPv4 pool 198.18.0.0/29 is exhausted: 4 of 4 addresses in use');
  t.same(ipam.usage(), { ipv4Free: 0, ipv4Total: 4 });
  t.same(await ipam.allocate('task-2', { ipv6: false }), leases[1], 'allocating for a task that holds a lease returns that lease');
});

t.test('release and reuse, next-fit', async (t) => {
  const ipam = fourAddressPool();
  const first = await ipam.allocate('a', { ipv6: false });
  await ipam.allocate('b', { ipv6: false });
  t.same(await ipam.release('a'), first, 'release returns the lease');
  t.equal(await ipam.release('a'), undefined, 'releasing twice is harmless');
  t.equal((await ipam.allocate('c', { ipv6: false })).ipv4, '198.18.0.4', 'a just-released address is not the next one out');
  await ipam.allocate('d', { ipv6: false });
  t.equal((await ipam.allocate('e', { ipv6: false })).ipv4, first.ipv4, 'it comes back once the others are used');
  await t.rejects(ipam.allocate('f', { ipv6: false }), { code: 'RESOURCE_EXHAUSTED' });
  await ipam.release('c');
  t.equal((await ipam.allocate('f', { ipv6: false })).ipv4, '198.18.0.4', 'a freed address is reused when it is the only one');
});

t.test('IPv6', async (t) => {
  const ipam = new Ipam({ ipv4Cidr: '198.18.0.0/24', ipv6Cidr: 'fd00:7175::/126' });
  t.equal(ipam.pool6?.gatewayText, 'fd00:7175::1');
  t.same(ipam.usage(), { ipv4Free: 253, ipv4Total: 253, ipv6Free: 2 });
  const a = await ipam.allocate('a', { ipv6: true });
  t.same(a, { taskId: 'a', ipv4: '198.18.0.2', ipv6: 'fd00:7175::2' }, 'canonical IPv6 text');
  const b = await ipam.allocate('b', { ipv6: false });
  t.equal(b.ipv6, undefined, 'IPv6 only when asked for');
  t.same(await ipam.allocate('b', { ipv6: true }), { taskId: 'b', ipv4: b.ipv4, ipv6: 'fd00:7175::3' }, 'IPv6 added to an existing lease');
  const err = await errorOf(ipam.allocate('c', { ipv6: true }));
  t.ok(isExecutorError(err, 'RESOURCE_EXHAUSTED'));
  t.match((err as Error).message, /IPv6 pool fd00:7175::\/126 is exhausted: 2 of 2/);
  t.equal(ipam.lease('c'), undefined, 'no half lease left behind');
  t.equal(ipam.usage().ipv4Free, 251, 'the IPv4 address taken for it was given back');

  const big = new Ipam({ ipv4Cidr: '198.18.0.0/24', ipv6Cidr: 'fd00:7175::/64' });
  t.equal(big.usage().ipv6Free, Number.MAX_SAFE_INTEGER, 'a /64 reads as a capped count');
  const noV6 = new Ipam({ ipv4Cidr: '198.18.0.0/24' });
  await t.rejects(noV6.allocate('x', { ipv6: true }), { code: 'FAILED_PRECONDITION' });
  t.equal(noV6.lease('x'), undefined);
});

t.test('restore from persisted attachments', async (t) => {
  const ipam = fourAddressPool();
  await ipam.restore([
    { taskId: 'old-1', ipv4: '198.18.0.3' },
    { taskId: 'old-2', ipv4: '198.18.0.2' },
  ]);
  t.same(ipam.usage(), { ipv4Free: 2, ipv4Total: 4 });
  const fresh = [await ipam.allocate('n1', { ipv6: false }), await ipam.allocate('n2', { ipv6: false })];
  t.same(fresh.map((l) => l.ipv4).sort(), ['198.18.0.4', '198.18.0.5'], 'restored addresses are not handed out');
  await ipam.restore([{ taskId: 'old-1', ipv4: '198.18.0.3' }]); // the same lease again is fine

  const err = await errorOf(ipam.restore([{ taskId: 'other', ipv4: '198.18.0.3' }, { taskId: 'outside', ipv4: '10.0.0.9' }]));
  t.ok(isExecutorError(err, 'INTERNAL'), 'a conflicting lease is reported');
  t.match((err as Error).message, /198\.18\.0\.3 of task other is already leased to old-1/);
  t.same(ipam.lease('outside'), { taskId: 'outside', ipv4: '10.0.0.9' }, 'an address outside the pool is kept on the lease');
});

t.test('JSON lease file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tt-ipam-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'leases.json');
  const store = new JsonFileLeaseStore(path);
  t.same(await store.load(), [], 'a missing file is no leases');

  const ipam = fourAddressPool(store);
  await Promise.all(['a', 'b', 'c'].map((id) => ipam.allocate(id, { ipv6: false })));
  await ipam.release('b');
  const reopened = await Ipam.open({ ipv4Cidr: '198.18.0.0/29', reservedAddresses: ['198.18.0.6'], store: new JsonFileLeaseStore(path) });
  t.same(reopened.leases(), ipam.leases(), 'leases survive a restart');
  t.same(reopened.loadProblems, []);
  t.same(await readdir(join(dir, 'sub')), ['leases.json'], 'no temporary files left');

  await writeFile(path, '{"version":1,"leases":[{"ipv4":"x"}]}');
  await t.rejects(store.load(), /malformed/);

  const failing: LeaseStore = {
    load: async () => [],
    save: async (_leases: readonly Lease[]) => {
      throw new Error('disk full');
    },
  };
  const unlucky = fourAddressPool(failing);
  await t.rejects(unlucky.allocate('a', { ipv6: false }), /disk full/);
  t.same(unlucky.usage(), { ipv4Free: 4, ipv4Total: 4 }, 'an allocation that could not be saved is undone');
});
