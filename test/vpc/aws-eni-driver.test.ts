import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { isExecutorError } from '../../src/common/errors.js';
import { AwsEniNetworkDriver, INSTANCE_ID_TAG, TASK_ID_TAG } from '../../src/vpc/aws-eni-driver.js';
import { awsEniConfigSchema, type AwsEniConfig } from '../../src/vpc/config.js';
import { createEc2Client } from '../../src/vpc/ec2-api.js';
import type { NetworkSpec } from '../../src/vpc/types.js';
import { FakeEc2 } from './fixtures/fake-ec2.js';
import { createNetns, inNs, inventory, netnsPath } from './fixtures/netns.js';

const SUBNET = { id: 'subnet-0test', cidr: '198.18.40.0/24', ipv6Cidr: 'fd00:7175:40::/64' };
const INSTANCE = 'i-0123456789abcdef0';

const spec = (taskId: string, overrides: Partial<NetworkSpec> = {}): NetworkSpec => ({
  taskId,
  securityGroups: ['sg-web'],
  bandwidthMbps: 100,
  allowBursting: false,
  wantIpv6: false,
  hostname: taskId,
  ...overrides,
});

interface Rig {
  fake: FakeEc2;
  hostNs: string;
  config: AwsEniConfig;
  driver: (overrides?: Record<string, unknown>) => AwsEniNetworkDriver;
}

/** A fake EC2 whose attach makes a NIC (one end of a veth pair, with the ENI's MAC) appear in a test "host" netns. */
const rig = async (t: { teardown(fn: () => unknown): void }): Promise<Rig> => {
  const fake = new FakeEc2();
  fake.addSubnet(SUBNET);
  fake.securityGroups.add('sg-web');
  fake.securityGroups.add('sg-db');
  const endpoint = await fake.start();
  t.teardown(() => fake.stop());
  const hostNs = await createNetns(t, 'ec2host');
  let nic = 0;
  const peers = new Map<string, string>();
  fake.hooks = {
    onAttach: async (eni) => {
      nic++;
      peers.set(eni.id, `ep${nic}`);
      await inNs(hostNs, ['ip', 'link', 'add', `en${nic}`, 'address', eni.mac, 'type', 'veth', 'peer', 'name', `ep${nic}`]);
    },
    // The NIC vanishes from wherever it was moved to, as a detached ENI does.
    onDetach: async (eni) => {
      const peer = peers.get(eni.id);
      if (peer !== undefined) await runCommand(['ip', '-n', hostNs, 'link', 'del', peer], { allowFailure: true });
    },
  };
  const config = awsEniConfigSchema.parse({
    endpoint,
    subnetId: SUBNET.id,
    instanceId: INSTANCE,
    hostNetns: hostNs,
    maxTaskEnis: 3,
    maxAttempts: 3,
    pollIntervalMs: 20,
    deviceWaitMs: 2000,
    detachWaitMs: 2000,
  });
  const driver = (overrides: Record<string, unknown> = {}): AwsEniNetworkDriver => {
    const merged = awsEniConfigSchema.parse({ ...config, ...overrides });
    const ec2 = createEc2Client(merged, { credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } });
    return new AwsEniNetworkDriver({ config: merged, ec2 });
  };
  return { fake, hostNs, config, driver };
};

const errorOf = async (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (err: unknown) => err);

t.test('attach through throttling, plumb, detach', async (t) => {
  const { fake, hostNs, driver: makeDriver } = await rig(t);
  const driver = makeDriver();
  const task = await createNetns(t, 'enitask');
  fake.throttle(2);
  const attachment = await driver.attach(spec('task-1', { wantIpv6: true, securityGroups: ['sg-web', 'sg-db'] }), netnsPath(task));
  t.same(fake.requests.slice(0, 3), ['DescribeSubnets', 'DescribeSubnets', 'DescribeSubnets'], 'two throttled attempts, then success');

  const eni = fake.enis.get(attachment.details['eniId'] ?? '');
  t.ok(eni, 'the ENI exists in EC2');
  t.same(eni?.groups, ['sg-web', 'sg-db'], 'with the task security groups');
  t.equal(eni?.tags.get(TASK_ID_TAG), 'task-1');
  t.equal(eni?.tags.get(INSTANCE_ID_TAG), INSTANCE);
  t.equal(eni?.attachment?.deviceIndex, 1, 'first device slot');
  t.same(eni?.secondaryIps, [attachment.ipv4], 'the task address is an assigned secondary IP');
  t.equal(attachment.gateway4, '198.18.40.1', 'VPC router');
  t.equal(attachment.prefixLength4, 24);
  t.equal(attachment.mac, eni?.mac);
  t.equal(attachment.ipv6, eni?.ipv6[0]);

  const link = JSON.parse(await inNs(task, ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as Array<{
    address: string;
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  t.equal(link[0]?.address, eni?.mac, 'the NIC with the ENI MAC is eth0 in the task');
  t.ok(link[0]?.addr_info.some((a) => a.local === attachment.ipv4 && a.prefixlen === 24), 'with the task IPv4 address');
  t.ok(link[0]?.addr_info.some((a) => a.local === attachment.ipv6), 'and the IPv6 address');
  const routes = JSON.parse(await inNs(task, ['ip', '-j', 'route', 'show', 'default'])) as Array<{ gateway: string }>;
  t.equal(routes[0]?.gateway, '198.18.40.1', 'default route via the VPC router');
  t.same(driver.available(), { ipv4Free: 2, ipv4Total: 3, bandwidthMbpsTotal: 10_000, bandwidthMbpsAllocated: 100 });

  await driver.detach(attachment);
  t.equal(fake.enis.size, 0, 'ENI deleted');
  t.ok(['UnassignPrivateIpAddresses', 'DetachNetworkInterface', 'DeleteNetworkInterface'].every((a) => fake.requests.includes(a)));
  await driver.detach(attachment);
  t.pass('detach is idempotent');
  t.same((await inventory(hostNs)).links, [], 'no NIC left on the host');
  t.equal(driver.available().ipv4Free, 3);
});

t.test('refusals leave nothing in EC2', async (t) => {
  const { fake, driver: makeDriver } = await rig(t);
  const driver = makeDriver();
  const task = await createNetns(t, 'enitask');

  const unknown = await errorOf(driver.attach(spec('task-sg', { securityGroups: ['sg-web', 'sg-x'] }), netnsPath(task)));
  t.ok(isExecutorError(unknown, 'INVALID_ARGUMENT'), 'unknown group is INVALID_ARGUMENT');
  t.equal((unknown as Error).message, 'unknown security group sg-x');
  t.equal(fake.enis.size, 0);

  fake.throttle(10);
  const throttled = await errorOf(driver.attach(spec('task-throttled'), netnsPath(task)));
  t.ok(isExecutorError(throttled, 'UNAVAILABLE'), `throttled past maxAttempts: ${String(throttled)}`);
  fake.throttle(0);
  t.equal(fake.enis.size, 0);

  const noNic = makeDriver({ deviceWaitMs: 200 });
  fake.hooks = {};
  const missing = await errorOf(noNic.attach(spec('task-nonic'), netnsPath(task)));
  t.ok(isExecutorError(missing, 'UNAVAILABLE'), 'NIC never showed up');
  t.equal(fake.enis.size, 0, 'the created ENI was rolled back');
  t.equal(noNic.available().ipv4Free, 3);
});

t.test('garbage collection after a restart', async (t) => {
  const { fake, driver: makeDriver } = await rig(t);
  const before = makeDriver();
  const taskA = await createNetns(t, 'enia');
  const taskB = await createNetns(t, 'enib');
  const lost = await before.attach(spec('task-lost'), netnsPath(taskA));
  const kept = await before.attach(spec('task-kept', { bandwidthMbps: 50 }), netnsPath(taskB));
  t.not(lost.details['deviceIndex'], kept.details['deviceIndex'], 'distinct device slots');
  fake.enis.set('eni-foreign', {
    id: 'eni-foreign',
    subnetId: SUBNET.id,
    mac: '02:fe:ff:ff:ff:ff',
    primaryIp: '198.18.40.250',
    groups: ['sg-web'],
    description: 'not ours',
    tags: new Map([['titus:task-id', 'task-lost']]),
    secondaryIps: [],
    ipv6: [],
    status: 'available',
  });

  const after = makeDriver();
  await after.restore([kept]);
  t.same(after.available().bandwidthMbpsAllocated, 50, 'restored task accounted');
  const removed = await after.garbageCollect(new Set(['task-kept']));
  t.same(removed, [`eni ${lost.details['eniId']} (task-lost)`], 'only the lost task ENI is removed');
  t.same([...fake.enis.keys()].sort(), [kept.details['eniId'], 'eni-foreign'].sort(), 'the live and the foreign ENI stay');
  await after.detach(kept);
  t.same([...fake.enis.keys()], ['eni-foreign']);
});
