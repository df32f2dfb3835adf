/**
 * ENI tasks are shaped like local ones (issue 17): HTB on the ENI inside the
 * task namespace for what it sends, and on an IFB there for what it receives.
 * The ENI is a veth end with the ENI's MAC; its peer, in a test namespace,
 * holds the VPC router's address, which the transfers go to and come from.
 */
import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { createEniHost, eniDriver, ENI_GATEWAY4 } from './fixtures/eni-host.js';
import { createNetns, inNs, measureTransfer, netnsPath } from './fixtures/netns.js';

const LIMIT_MBPS = 20;
const SECONDS = 3;
const BYTES = (LIMIT_MBPS * 1e6 * SECONDS) / 8;
const TOLERANCE = 0.25;

const haveTools = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'nft', 'nsenter', 'tc']) {
    if ((await runCommand(['sh', '-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) return false;
  }
  return true;
};

t.test('an ENI task with a bandwidth limit is shaped both ways inside its namespace', { skip: (await haveTools()) ? false : 'needs root, ip, nft, nsenter and tc' }, async (t) => {
  const eniHost = await createEniHost(t);
  const driver = eniDriver(eniHost, { mtu: 1500 });
  const limitedNs = await createNetns(t, 'enilim');
  const freeNs = await createNetns(t, 'enifree');
  const base = { securityGroups: ['sg-web'], allowBursting: false, wantIpv6: false };
  const limited = await driver.attach({ ...base, taskId: 'eni-limited', hostname: 'eni-limited', bandwidthMbps: LIMIT_MBPS }, netnsPath(limitedNs));
  t.teardown(() => driver.detach(limited).catch(() => undefined));

  const kinds = (JSON.parse(await inNs(limitedNs, ['tc', '-j', 'qdisc', 'show'])) as Array<{ dev: string; kind: string }>)
    .filter((q) => q.kind !== 'noqueue')
    .map((q) => `${q.dev}:${q.kind}`)
    .sort();
  t.same(kinds, ['eth0:htb', 'eth0:ingress', 'ifb0:htb'], 'HTB on the ENI and on an IFB fed from its ingress, inside the task namespace');

  const sent = await measureTransfer(limitedNs, eniHost.hostNs, ENI_GATEWAY4, BYTES, 9201);
  t.comment(`ENI task sends: ${sent.mbps.toFixed(2)} Mbps`);
  t.ok(Math.abs(sent.mbps - LIMIT_MBPS) <= LIMIT_MBPS * TOLERANCE, `what it sends: ${sent.mbps.toFixed(2)} Mbps within ±25 % of ${LIMIT_MBPS}`);
  const received = await measureTransfer(eniHost.hostNs, limitedNs, limited.ipv4 ?? '', BYTES, 9202);
  t.comment(`ENI task receives: ${received.mbps.toFixed(2)} Mbps`);
  t.ok(Math.abs(received.mbps - LIMIT_MBPS) <= LIMIT_MBPS * TOLERANCE, `what it receives: ${received.mbps.toFixed(2)} Mbps within ±25 % of ${LIMIT_MBPS}`);
  await driver.detach(limited);

  const free = await driver.attach({ ...base, taskId: 'eni-free', hostname: 'eni-free', bandwidthMbps: 0 }, netnsPath(freeNs));
  t.teardown(() => driver.detach(free).catch(() => undefined));
  const freeKinds = (JSON.parse(await inNs(freeNs, ['tc', '-j', 'qdisc', 'show'])) as Array<{ dev: string; kind: string }>).filter((q) => q.kind !== 'noqueue');
  t.same(freeKinds, [], 'an unlimited ENI task gets no qdiscs');
  await driver.detach(free);
});
