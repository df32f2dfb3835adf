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
import { AwsEniNetworkDriver } from '../../src/vpc/aws-eni-driver.js';
import { awsEniConfigSchema } from '../../src/vpc/config.js';
import { createEc2Client } from '../../src/vpc/ec2-api.js';
import { METADATA_GUARD_TABLE } from '../../src/vpc/metadata-guard.js';
import { createEniHost, ENI_GATEWAY4, ENI_INSTANCE, ENI_SUBNET, ipv6DefaultRouteLikeEc2 } from './fixtures/eni-host.js';
import { createNetns, inNs, netnsPath } from './fixtures/netns.js';

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
  const config = awsEniConfigSchema.parse({
    endpoint: eniHost.endpoint,
    subnetId: ENI_SUBNET.id,
    instanceId: ENI_INSTANCE,
    hostNetns: eniHost.hostNs,
    maxAttempts: 2,
    pollIntervalMs: 20,
    deviceWaitMs: 2000,
    detachWaitMs: 2000,
  });
  const ec2 = createEc2Client(config, { credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' } });
  const driver = new AwsEniNetworkDriver({ config, ec2 });
  const task = await createNetns(t, 'eniguard');
  const attachment = await driver.attach(
    { taskId: 'task-imds', securityGroups: ['sg-web'], bandwidthMbps: 0, allowBursting: false, wantIpv6: true, hostname: 'task-imds' },
    netnsPath(task),
  );
  t.teardown(() => driver.detach(attachment).catch(() => undefined));
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

  await driver.detach(attachment);
  t.same(eniHost.fake.enis.size, 0, 'ENI gone');
});
