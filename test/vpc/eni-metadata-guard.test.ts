/**
 * An ENI task must never reach the VPC's instance metadata service (which
 * answers every ENI of the instance with the HOST's role), whatever path it
 * tries, from the moment the driver's attach returns, with no executor
 * process running at all (as during a restart). The ENI is stood in for by a
 * veth end with the ENI's MAC; the VPC router and its IMDS by the other end
 * (fixtures/eni-host.ts). Needs root, ip, nft, nsenter and curl.
 */
import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { METADATA_GUARD_DEVICE_TABLE, METADATA_GUARD_TABLE } from '../../src/vpc/metadata-guard.js';
import { createEniHost, eniDriver, ENI_GATEWAY4, ipv6DefaultRouteLikeEc2 } from './fixtures/eni-host.js';
import { createNetns, inNs, netnsPath } from './fixtures/netns.js';

/**
 * A TCP SYN to 169.254.169.254:80 written straight onto the ENI with a raw
 * packet socket (what NET_RAW, which Docker grants by default, allows),
 * addressed to the VPC router's MAC: no route, no IP stack, no inet hooks.
 * argv: interface, router MAC, source IPv4, `bypass` for PACKET_QDISC_BYPASS.
 */
const RAW_SYN = `
import socket, struct, sys
ifname, router_mac, src_ip, mode = sys.argv[1:5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
if mode == 'bypass':
    s.setsockopt(263, 20, 1)  # SOL_PACKET, PACKET_QDISC_BYPASS
s.bind((ifname, 0))
src_mac = s.getsockname()[4]
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
src, dst = socket.inet_aton(src_ip), socket.inet_aton('169.254.169.254')
tcp = struct.pack('!HHIIBBHHH', 40000, 80, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
tcp = tcp[:16] + struct.pack('!H', csum(src + dst + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)) + tcp[18:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
eth = bytes.fromhex(router_mac.replace(':', '')) + src_mac + b'\\x08\\x00'
refused = 0
for _ in range(3):
    try: s.send(eth + ip + tcp)
    except OSError: refused += 1  # ENOBUFS: dropped on the way out
print('refused %d of 3' % refused)
`;

const haveTools = async (): Promise<boolean> => {
  if (process.getuid?.() !== 0) return false;
  for (const tool of ['ip', 'nft', 'nsenter', 'curl']) {
    if ((await runCommand(['sh', '-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) return false;
  }
  return true;
};

/** curl from the task namespace; `reached` when anything answered (any HTTP status). */
const curlFrom = async (ns: string, args: string[]): Promise<{ reached: boolean; detail: string }> => {
  const r = await runCommand(['ip', 'netns', 'exec', ns, 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', ...args], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  const status = r.stdout.trim();
  return { reached: r.code === 0 && status !== '000', detail: `rc=${r.code} status=${status} ${r.stderr.trim()}` };
};

t.test('an ENI task cannot reach the VPC instance metadata service on any path', { skip: (await haveTools()) ? false : 'needs root, ip, nft, nsenter and curl' }, async (t) => {
  const eniHost = await createEniHost(t);
  const driver = eniDriver(eniHost);
  const task = await createNetns(t, 'eniguard');
  const attachment = await driver.attach(
    { taskId: 'task-imds', securityGroups: ['sg-web'], bandwidthMbps: 0, allowBursting: false, wantIpv6: true, hostname: 'task-imds' },
    netnsPath(task),
  );
  t.teardown(() => driver.detach(attachment).catch(() => undefined));
  t.equal(eniHost.fake.enis.get(attachment.details['eniId'] ?? '')?.attachment?.deleteOnTermination, true, 'the ENI is deleted with the instance if the executor never gets to it');
  await ipv6DefaultRouteLikeEc2(netnsPath(task));
  const ipv4 = attachment.ipv4 ?? '';

  // The test's VPC works: the task reaches its router, and the router end reaches the IMDS (control).
  t.match(await inNs(task, ['busybox', 'ping', '-c', '1', '-W', '2', ENI_GATEWAY4]), /1 packets received/, 'the task reaches the VPC router through its ENI');
  const control = await runCommand(['ip', 'netns', 'exec', eniHost.hostNs, 'curl', '-sS', '--max-time', '2', '-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token'], { allowFailure: true });
  t.equal(control.code, 0, 'the fake VPC IMDS answers on its own side');
  eniHost.hostImds.requests.length = 0;

  const attempts: Array<[string, string[]]> = [
    ['direct, IPv4', ['http://169.254.169.254/latest/meta-data/iam/security-credentials/']],
    ['IMDSv2 token PUT', ['-X', 'PUT', '-H', 'X-aws-ec2-metadata-token-ttl-seconds: 60', 'http://169.254.169.254/latest/api/token']],
    ['bound to the ENI (SO_BINDTODEVICE eth0), i.e. via its gateway', ['--interface', 'eth0', 'http://169.254.169.254/latest/meta-data/']],
    ['from the task address', ['--interface', ipv4, 'http://169.254.169.254/latest/meta-data/']],
    ['another port', ['http://169.254.169.254:81/latest/meta-data/']],
    ['direct, IPv6', ['-g', 'http://[fd00:ec2::254]/latest/meta-data/']],
    ['IPv6 bound to the ENI', ['-g', '--interface', 'eth0', 'http://[fd00:ec2::254]/latest/meta-data/']],
  ];
  for (const [how, args] of attempts) {
    const r = await curlFrom(task, args);
    t.notOk(r.reached, `${how}: nothing answers (${r.detail})`);
  }
  t.same(eniHost.hostImds.requests, [], 'the VPC instance metadata service never got a request');

  const ruleset = await inNs(task, ['nft', 'list', 'table', 'inet', METADATA_GUARD_TABLE]);
  t.match(ruleset, /oifname != "lo" ip daddr 169\.254\.169\.254 counter packets [1-9]/, 'the guard dropped what was sent out the ENI');
  t.match(ruleset, /oifname != "lo" ip6 daddr fd00:ec2::254 counter packets [1-9]/, 'IPv6 too');

  // Raw packet sockets: the frames must not even reach the VPC side of the wire.
  const peer = (JSON.parse(await inNs(eniHost.hostNs, ['ip', '-j', 'link', 'show', 'ep1'])) as Array<{ address: string }>)[0]?.address ?? '';
  await runCommand(['ip', 'netns', 'exec', eniHost.hostNs, 'nft', '-f', '-'], {
    input: 'table netdev probe {\n chain seen {\n type filter hook ingress device "ep1" priority -500;\n ip daddr 169.254.169.254 counter\n }\n}\n',
  });
  const seenOnVpcSide = async (): Promise<number> => Number(/counter packets (\d+)/.exec(await inNs(eniHost.hostNs, ['nft', 'list', 'table', 'netdev', 'probe']))?.[1] ?? -1);
  for (const mode of ['queued', 'bypass']) {
    await inNs(task, ['python3', '-c', RAW_SYN, 'eth0', peer, ipv4, mode]);
    t.equal(await seenOnVpcSide(), 0, `a raw-socket SYN to 169.254.169.254 (${mode === 'bypass' ? 'PACKET_QDISC_BYPASS' : 'through the qdisc'}) never reaches the VPC side`);
  }
  // Control: the probe does see such frames once the device guard is gone, so the zero above means something.
  await inNs(task, ['nft', 'delete', 'table', 'netdev', METADATA_GUARD_DEVICE_TABLE]);
  await inNs(task, ['python3', '-c', RAW_SYN, 'eth0', peer, ipv4, 'bypass']);
  t.ok((await seenOnVpcSide()) > 0, 'control: without the device guard the raw frames do reach the VPC side');

  await driver.detach(attachment);
  t.same(eniHost.fake.enis.size, 0, 'ENI gone');
});
