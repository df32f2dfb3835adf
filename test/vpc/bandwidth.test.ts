import t from 'tap';
import { namesForTask } from '../../src/vpc/naming.js';
import { createDriver, createHostNetns, createNetns, inNs, inventory, measureTransfer, netnsPath, spec, testConfig } from './fixtures/netns.js';

/**
 * Measured transfers through the host-side shaping. Each limited transfer
 * moves 20 Mbps × ~4 s of payload; the receiver times first byte to last.
 * HTB counts whole frames (Ethernet, IP and TCP headers), so TCP payload
 * goodput sits ~4 % under the configured rate.
 */
const LIMIT_MBPS = 20;
const SECONDS = 4;
const LIMITED_BYTES = (LIMIT_MBPS * 1e6 * SECONDS) / 8;
const TOLERANCE = 0.25;

t.test('bandwidth limits in both directions', async (t) => {
  const hostNs = await createHostNetns(t);
  const limitedNs = await createNetns(t, 'lim');
  const peerNs = await createNetns(t, 'peer');
  const freeNs = await createNetns(t, 'free');
  const burstNs = await createNetns(t, 'burst');
  const driver = await createDriver(testConfig(hostNs, { burstCeilMbps: 100 }));
  const id = (label: string): string => `${label}-${process.pid}`;

  const limited = await driver.attach(spec(id('limited'), { bandwidthMbps: LIMIT_MBPS }), netnsPath(limitedNs));
  const peer = await driver.attach(spec(id('peer')), netnsPath(peerNs));
  const free = await driver.attach(spec(id('free')), netnsPath(freeNs));
  const bursting = await driver.attach(
    spec(id('bursting'), { bandwidthMbps: LIMIT_MBPS, allowBursting: true }),
    netnsPath(burstNs),
  );
  t.equal(driver.available().bandwidthMbpsAllocated, 2 * LIMIT_MBPS, 'limited tasks accounted');
  t.equal(bursting.details['ceilMbps'], '100', 'bursting ceiling is burstCeilMbps');

  const names = namesForTask(limited.taskId);
  const qdiscs = JSON.parse(await inNs(hostNs, ['tc', '-j', 'qdisc', 'show'])) as Array<{ dev: string; kind: string }>;
  // Every veth shows a `noqueue` qdisc; anything else was configured.
  const kinds = qdiscs.filter((q) => q.kind !== 'noqueue').map((q) => `${q.dev}:${q.kind}`);
  t.ok(kinds.includes(`${names.hostVeth}:htb`), 'HTB on the host veth (traffic to the task)');
  t.ok(kinds.includes(`${names.hostVeth}:ingress`), 'ingress qdisc on the host veth');
  t.ok(kinds.includes(`${names.ifb}:htb`), 'HTB on the IFB (traffic from the task)');
  // The packet filter's clsact is there for every task (docs/ebpf.md); shaping adds nothing for an unlimited one.
  const freeKinds = kinds.filter((k) => k.startsWith(namesForTask(free.taskId).hostVeth));
  t.same(freeKinds, [`${namesForTask(free.taskId).hostVeth}:clsact`], 'no shaping qdiscs for an unlimited task, only the filter\'s clsact');

  const egress = await measureTransfer(limitedNs, peerNs, peer.ipv4 ?? '', LIMITED_BYTES, 9101);
  t.comment(`limited task egress: ${egress.mbps.toFixed(2)} Mbps (${egress.bytes} bytes in ${egress.ms.toFixed(0)} ms)`);
  t.ok(Math.abs(egress.mbps - LIMIT_MBPS) <= LIMIT_MBPS * TOLERANCE, `egress ${egress.mbps.toFixed(2)} Mbps within ±25 % of ${LIMIT_MBPS}`);

  const ingress = await measureTransfer(peerNs, limitedNs, limited.ipv4 ?? '', LIMITED_BYTES, 9102);
  t.comment(`limited task ingress: ${ingress.mbps.toFixed(2)} Mbps (${ingress.bytes} bytes in ${ingress.ms.toFixed(0)} ms)`);
  t.ok(Math.abs(ingress.mbps - LIMIT_MBPS) <= LIMIT_MBPS * TOLERANCE, `ingress ${ingress.mbps.toFixed(2)} Mbps within ±25 % of ${LIMIT_MBPS}`);

  const unlimited = await measureTransfer(freeNs, peerNs, peer.ipv4 ?? '', 50_000_000, 9103);
  t.comment(`unlimited task egress: ${unlimited.mbps.toFixed(0)} Mbps`);
  t.ok(unlimited.mbps > LIMIT_MBPS * 5, 'an unlimited task is much faster');

  const burst = await measureTransfer(burstNs, peerNs, peer.ipv4 ?? '', 25_000_000, 9104);
  t.comment(`bursting task (rate ${LIMIT_MBPS}, ceil 100) egress: ${burst.mbps.toFixed(2)} Mbps`);
  t.ok(burst.mbps > LIMIT_MBPS * 2 && burst.mbps <= 100 * (1 + TOLERANCE), 'a bursting task borrows up to its ceiling');

  for (const attachment of [limited, peer, free, bursting]) await driver.detach(attachment);
  t.same(await inventory(hostNs), { links: [], nftTables: [], qdiscDevices: [] }, 'no veth, IFB, qdisc or nft table left');
  t.equal(driver.available().bandwidthMbpsAllocated, 0, 'bandwidth released');
  t.equal(driver.available().ipv4Free, driver.available().ipv4Total, 'leases released');
});
