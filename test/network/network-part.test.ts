/**
 * The network part's own rules, without an engine: admission against the
 * driver's capacity, the env, labels and details a grant carries, and the
 * config that switches networking on. The driver and the sandboxes are fakes
 * here; tasks.test.ts runs the real ones.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/config.js';
import { ExecutorError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { createNetworkPart } from '../../src/parts/create-network-part.js';
import { attachmentFromLabels, grantFor, NetworkTaskPart, networkSpecFor, startNetworkRecovery } from '../../src/parts/network-part.js';
import type { ContainerRuntime } from '../../src/runtime/container-runtime.js';
import { hostsFileFor, resolvConfFor, type SandboxManager } from '../../src/parts/sandbox.js';
import type { LaunchSpec } from '../../src/task/types.js';
import type { NetworkAttachment, NetworkAvailability, NetworkDriver, NetworkSpec } from '../../src/vpc/types.js';
import type { SandboxRuntime } from '../../src/parts/sandbox.js';

const launch = (taskId: string, extra: Partial<LaunchSpec> = {}): LaunchSpec => ({
  taskId,
  containerInfo: {},
  resources: { cpu: 1, memoryMb: 128, diskMb: 1000, networkMbps: 100, gpus: 0 },
  labels: {},
  ...extra,
});

class FakeDriver implements NetworkDriver {
  readonly name = 'local';
  leased = new Map<string, number>();
  detached: string[] = [];
  constructor(private readonly total: number, private readonly mbps: number) {}
  async attach(spec: NetworkSpec): Promise<NetworkAttachment> {
    this.leased.set(spec.taskId, spec.bandwidthMbps);
    return { taskId: spec.taskId, driver: this.name, ipv4: `198.18.0.${this.leased.size + 1}`, hostInterface: 'tx', details: {} };
  }
  async detach(a: NetworkAttachment): Promise<void> {
    this.detached.push(a.taskId);
    this.leased.delete(a.taskId);
  }
  async restore(): Promise<void> {}
  async garbageCollect(): Promise<string[]> {
    return [];
  }
  available(): NetworkAvailability {
    const allocated = [...this.leased.values()].reduce((s, m) => s + m, 0);
    return { ipv4Free: this.total - this.leased.size, ipv4Total: this.total, bandwidthMbpsTotal: this.mbps, bandwidthMbpsAllocated: allocated };
  }
}

const fakeSandboxes = (): SandboxManager & { removed: string[] } => {
  const removed: string[] = [];
  return {
    removed,
    imageRef: 'titus-executor/pause:test',
    create: async (spec: NetworkSpec) => ({ id: `sandbox-${spec.taskId}`, pid: 1 }),
    remove: async (taskId: string) => void removed.push(taskId),
    writeNetworkFiles: async () => [],
    list: async () => [],
  } as unknown as SandboxManager & { removed: string[] };
};

const part = (driver: NetworkDriver, sandboxes = fakeSandboxes()) =>
  new NetworkTaskPart(driver, sandboxes, { setupTimeoutMs: 5000 }, silentLogger());

t.test('admission reserves addresses and bandwidth, counting tasks still starting', async (t) => {
  const driver = new FakeDriver(2, 250);
  const p = part(driver);
  p.admit(launch('a'));
  p.admit(launch('b'));
  t.throws(() => p.admit(launch('c')), { code: 'RESOURCE_EXHAUSTED', message: /no task address free on this host: 0 of 2 addresses leased, 2 reserved by starting tasks/ });
  await p.acquire(launch('a'), new AbortController().signal);
  t.match(p.capacity().status?.[0], 'network: local, 1/2 IPv4 free, 100/250 Mbps allocated, 1 starting');
  await p.release('b');
  t.throws(() => p.admit(launch('c', { resources: { cpu: 1, memoryMb: 1, diskMb: 1, networkMbps: 200, gpus: 0 } })), {
    code: 'RESOURCE_EXHAUSTED',
    message: 'network bandwidth: 200 Mbps requested but only 150 of 250 Mbps are unallocated',
  });
  p.admit(launch('c', { resources: { cpu: 1, memoryMb: 1, diskMb: 1, networkMbps: 0, gpus: 0 } }));
  await p.release('a');
  await p.release('a');
  await p.release('c');
  t.same(driver.detached, ['a'], 'detached once, only what was attached');
  t.match(p.capacity().status?.[0], 'network: local, 2/2 IPv4 free, 0/250 Mbps allocated');
});

t.test('an unknown security group fails acquire before a sandbox exists; a host limit fails admission', async (t) => {
  const driver = Object.assign(new FakeDriver(4, 1000), {
    validate: (spec: NetworkSpec) => {
      if (spec.securityGroups.includes('sg-nope')) throw new ExecutorError('INVALID_ARGUMENT', 'unknown security group sg-nope');
      if (spec.wantIpv6) throw new ExecutorError('FAILED_PRECONDITION', 'no IPv6 pool');
    },
  });
  const sandboxes = fakeSandboxes();
  let created = 0;
  const counting = Object.assign(sandboxes, { create: async (spec: NetworkSpec) => (created++, { id: `s-${spec.taskId}`, pid: 1 }) });
  const p = part(driver, counting);
  const l = launch('x', { containerInfo: { networkConfigInfo: { securityGroups: ['sg-nope'] } } });
  p.admit(l);
  await t.rejects(p.acquire(l, new AbortController().signal), /unknown security group sg-nope/);
  t.equal(created, 0, 'no sandbox');
  await p.release('x');
  t.same(sandboxes.removed, [], 'nothing to remove');
  const v6 = launch('y', { containerInfo: { passthroughAttributes: { 'titusParameter.agent.assignIPv6Address': 'true' } } });
  t.throws(() => p.admit(v6), { code: 'FAILED_PRECONDITION' }, 'what the host cannot do is refused at admission');
});

t.test('the spec, env, labels and details of a grant', async (t) => {
  const spec = networkSpecFor(
    launch('Task_1', {
      containerInfo: {
        networkConfigInfo: { securityGroups: ['sg-a', 'sg-b'] },
        allowNetworkBursting: true,
        passthroughAttributes: { 'titusParameter.agent.assignIPv6Address': 'true' },
      },
    }),
  );
  t.same(spec, { taskId: 'Task_1', securityGroups: ['sg-a', 'sg-b'], bandwidthMbps: 100, allowBursting: true, wantIpv6: true, hostname: 'task-1' });
  const attachment: NetworkAttachment = {
    taskId: 'Task_1',
    driver: 'aws-eni',
    ipv4: '10.0.0.5',
    ipv6: '2001:db8::5',
    hostInterface: '',
    details: { eniId: 'eni-123', subnetId: 'subnet-9', bandwidthMbps: '100' },
  };
  const grant = grantFor(attachment, spec, 'abc');
  t.equal(grant.networkMode, 'container:abc');
  t.same(grant.env, { EC2_LOCAL_IPV4: '10.0.0.5', NETFLIX_NETWORK_MODE: 'DUAL_STACK', EC2_IPV6S: '2001:db8::5', EC2_INTERFACE_ID: 'eni-123', EC2_SUBNET_ID: 'subnet-9' });
  t.same(grant.network, { isRoutableIp: true, ipv4Address: '10.0.0.5', ipv6Address: '2001:db8::5', eniId: 'eni-123', networkMode: 'Ipv6AndIpv4', hostname: 'task-1' });
  t.equal(grant.labels?.['titus.net.ipv4'], '10.0.0.5');
  t.equal(grant.labels?.['titus.vpc.ipv4'], '10.0.0.5');
  t.same(attachmentFromLabels(grant.labels ?? {}), attachment, 'the attachment round-trips through the labels');
  t.equal(attachmentFromLabels({ 'titus.executor.network': '{not json' }), undefined);
  const local = grantFor({ taskId: 't', driver: 'local', ipv4: '198.18.0.2', hostInterface: 'tx1', details: {} }, { ...spec, wantIpv6: false }, 'id');
  t.same(local.env, { EC2_LOCAL_IPV4: '198.18.0.2', NETFLIX_NETWORK_MODE: 'IPV4_ONLY' });
  t.match(local.network, { isRoutableIp: false, networkMode: 'Ipv4Only' });
});

t.test('config: networking is off unless a driver is named', async (t) => {
  const runtime = {} as SandboxRuntime;
  const off = parseConfig({});
  t.equal(off.network.driver, 'none');
  t.equal(await createNetworkPart(off, runtime, silentLogger()), undefined, 'no network part, no sandbox: network mode none as before');
  const on = parseConfig({ network: { driver: 'local', local: { ipv4Cidr: '198.18.40.0/24' } } });
  t.equal(on.network.sandbox.busyboxPath, '/bin/busybox');
  const p = await createNetworkPart(on, runtime, silentLogger());
  t.match(p?.capacity().status?.[0], 'network: local, 253/253 IPv4 free, 0/10000 Mbps allocated');
  t.match(p?.sandboxes.imageRef, /^titus-executor\/pause:\d+\.\d+\.\d+/);
  t.throws(() => parseConfig({ network: { driver: 'aws-eni' } }), /network.awsEni: driver aws-eni needs the awsEni section/);
  t.throws(() => parseConfig({ network: { driver: 'bridge' } }), /network.driver/);
  t.throws(() => parseConfig({ network: { local: { ipv4Cidr: '10.0.0.0/33' } } }), /network.local.ipv4Cidr/);
});

t.test('launches are refused until the tasks that outlived a restart are known', async (t) => {
  let calls = 0;
  const runtime = {
    listContainers: async () => {
      if (++calls < 3) throw new Error('engine unreachable');
      return [];
    },
  } as unknown as ContainerRuntime;
  const p = part(new FakeDriver(4, 1000));
  await startNetworkRecovery(runtime, p, 'exec-1', silentLogger(), 20);
  t.throws(() => p.admit(launch('early')), { code: 'UNAVAILABLE' }, 'refused while recovering');
  t.match(p.capacity().status?.[0], /recovering after restart/);
  for (let i = 0; i < 100 && calls < 3; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 10));
  t.equal(calls, 3, 'retried until the engine answered');
  t.doesNotThrow(() => p.admit(launch('later')), 'admitted once recovered');
  await p.release('later');
});

t.test('the task\'s /etc/hosts and /etc/resolv.conf, as the engine would have written them', async (t) => {
  t.equal(
    hostsFileFor('task-1', ['198.18.0.5', 'fd00::5']),
    '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n' +
      'ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n198.18.0.5\ttask-1\nfd00::5\ttask-1\n',
  );
  t.equal(
    resolvConfFor('# from DHCP\nsearch ec2.internal\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\n'),
    '# from DHCP\nsearch ec2.internal\nnameserver 10.0.0.2\noptions edns0\n',
    'loopback nameservers dropped: the task\'s lo does not answer',
  );
  t.equal(resolvConfFor('nameserver 127.0.0.53\nsearch x\n'), 'search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n', 'none left: the engine\'s defaults');
  t.equal(resolvConfFor(''), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
});

t.test('a capability the driver refuses (NET_ADMIN with aws-eni) fails the task before any sandbox exists', async (t) => {
  class GuardedDriver extends FakeDriver {
    readonly refusedCapabilities = { names: ['NET_ADMIN', 'ALL'], why: 'the guard lives in the task namespace' };
  }
  const driver = new GuardedDriver(10, 1000);
  let created = 0;
  const sandboxes = fakeSandboxes();
  const counting = { ...sandboxes, create: async (spec: NetworkSpec) => (created++, sandboxes.create(spec, AbortSignal.abort(), undefined as never)) } as unknown as SandboxManager & { removed: string[] };
  const p = part(driver, counting);
  const withCaps = (add: string[]) => launch(`caps-${add.join('-')}`, { containerInfo: { capabilities: { add: add as never, drop: [] } } });
  for (const add of [['NET_ADMIN'], ['ALL'], ['SYS_TIME', 'net_admin']]) {
    await t.rejects(p.acquire(withCaps(add), new AbortController().signal), { code: 'INVALID_ARGUMENT', message: /is not allowed with network driver local: the guard lives in the task namespace/ }, add.join(','));
    await p.release(withCaps(add).taskId);
  }
  t.equal(created, 0, 'no sandbox was built');
  t.same(driver.leased.size, 0, 'nothing attached');
  await p.acquire(withCaps(['NET_RAW', 'SYS_TIME']), new AbortController().signal);
  t.equal(driver.leased.size, 1, 'other capabilities are fine');
});

t.test('published ports travel from the passthrough attribute to the driver, which parses them', async (t) => {
  const { parsePublishedPorts } = await import('../../src/vpc/published-ports.js');
  const spec = networkSpecFor(launch('p', { containerInfo: { passthroughAttributes: { 'titus.executor.publishedPorts': '8080:80, 5353:53/udp' } } }));
  t.equal(spec.publishedPorts, '8080:80, 5353:53/udp');
  t.same(parsePublishedPorts(spec.publishedPorts), [
    { protocol: 'tcp', hostPort: 8080, taskPort: 80 },
    { protocol: 'udp', hostPort: 5353, taskPort: 53 },
  ]);
  t.equal(networkSpecFor(launch('q')).publishedPorts, undefined, 'absent when not asked for');
  for (const bad of ['8080', '0:80', '8080:70000', '8080:80/sctp', '8080:80,8080:81']) {
    t.throws(() => parsePublishedPorts(bad), { code: 'INVALID_ARGUMENT' }, bad);
  }
});

t.test('periodic garbage collection spares every task the part knows, and stops', async (t) => {
  const calls: string[][] = [];
  const driver = new FakeDriver(4, 1000);
  driver.garbageCollect = async (...args: unknown[]): Promise<string[]> => {
    calls.push([...(args[0] as ReadonlySet<string>)].sort());
    return ['veth txleftover'];
  };
  const p = part(driver);
  p.admit(launch('starting'));
  await p.acquire(launch('attached'), new AbortController().signal);
  p.markRecovering();
  const stop = p.startPeriodicGc(10);
  await new Promise((r) => setTimeout(r, 60));
  t.equal(calls.length, 0, 'not while recovering');
  p.markRecovered();
  await new Promise((r) => setTimeout(r, 60));
  t.ok(calls.length >= 1, `collected ${calls.length} times`);
  t.same(calls[0], ['attached', 'starting'], 'with admitted and attached tasks live');
  stop();
  const after = calls.length;
  await new Promise((r) => setTimeout(r, 60));
  t.equal(calls.length, after, 'no more after stop');
});
