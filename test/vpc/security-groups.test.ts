import t from 'tap';
import { isExecutorError } from '../../src/common/errors.js';
import { networkConfigSchema, securityGroupCatalogSchema } from '../../src/vpc/config.js';
import { renderTaskTable } from '../../src/vpc/nftables.js';
import { resolveSecurityGroups } from '../../src/vpc/security-groups.js';
import { hashOfVeth, namesForTask } from '../../src/vpc/naming.js';

const catalog = securityGroupCatalogSchema.parse({
  web: { ingress: [{ protocol: 'tcp', ports: [8080, 8080], cidrs: ['198.18.0.0/15', 'fd00::/8'] }], egress: [] },
  open: { ingress: [] },
  ping: { ingress: [{ protocol: 'icmp', cidrs: ['0.0.0.0/0'] }], egress: [{ protocol: 'udp', ports: [53, 53], cidrs: ['198.18.0.53/32'] }] },
  locked: { egress: [{ protocol: 'tcp', ports: [443, 443], cidrs: ['198.18.1.0/24'] }] },
});

t.test('resolving groups', async (t) => {
  const both = resolveSecurityGroups(['web', 'ping', 'web', 'open'], catalog, []);
  t.same(both.groups, ['web', 'ping', 'open'], 'duplicates collapse');
  t.equal(both.ingress.length, 2, 'ingress rules are the union');
  t.equal(both.egress, 'allow-all', 'any allow-all group allows all egress');
  t.same(resolveSecurityGroups(['web'], catalog, []).egress, [], 'an empty egress list allows only replies');
  const strict = resolveSecurityGroups(['ping', 'locked'], catalog, []);
  t.same(Array.isArray(strict.egress) ? strict.egress.map((r) => r.protocol) : [], ['udp', 'tcp'], 'egress rules union');
  t.same(resolveSecurityGroups([], catalog, ['web']).groups, ['web'], 'defaults when the spec names none');

  const unknown = (() => {
    try {
      resolveSecurityGroups(['web', 'sg-x'], catalog, []);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  t.ok(isExecutorError(unknown, 'INVALID_ARGUMENT'));
  t.equal((unknown as Error).message, 'unknown security group sg-x');
  t.throws(() => resolveSecurityGroups(['a', 'b'], catalog, []), { message: 'unknown security groups a, b' });
  t.throws(() => resolveSecurityGroups([], catalog, []), { code: 'INVALID_ARGUMENT' });
  t.throws(() => resolveSecurityGroups(['toString'], catalog, []), { message: 'unknown security group toString' }, 'no prototype names');
});

t.test('nft rendering', async (t) => {
  const names = namesForTask('task-1');
  const script = renderTaskTable({
    table: names.nftTable,
    hostVeth: names.hostVeth,
    ipv4: '198.18.0.2',
    ipv6: 'fd00:7175::2',
    rules: resolveSecurityGroups(['web', 'locked'], catalog, []),
    metadataIpv4: '169.254.169.254',
    metadataIpv6: 'fd00:ec2::254',
  });
  t.match(script, `add table inet ${names.nftTable}\ndelete table inet ${names.nftTable}\ntable inet ${names.nftTable} {`, 'replace in one transaction');
  t.match(script, 'ip saddr 198.18.0.0/15 meta l4proto tcp th dport 8080 accept');
  t.match(script, 'ip6 saddr fd00::/8 meta l4proto tcp th dport 8080 accept');
  t.match(script, 'ip daddr 198.18.1.0/24 meta l4proto tcp th dport 443 accept');
  t.match(script, `iifname "${names.hostVeth}" jump egress`);
  t.match(script, 'ip saddr != 198.18.0.2 drop', 'anti-spoofing');
  t.match(script, `iifname "${names.hostVeth}" ip daddr 169.254.169.254 drop`);
  t.equal(hashOfVeth(names.hostVeth), names.hash);
  t.equal(hashOfVeth('tx12'), undefined, 'foreign names are not ours');
  t.ok(names.hostVeth.length <= 15 && names.ifb.length <= 15);
});

t.test('config schema', async (t) => {
  const defaults = networkConfigSchema.parse({});
  t.equal(defaults.driver, 'local');
  t.equal(defaults.local.ipv4Cidr, '198.18.0.0/16');
  t.equal(defaults.local.bandwidthMbpsTotal, 10_000);
  t.notOk(networkConfigSchema.safeParse({ local: { ipv4Cidr: 'fd00::/64' } }).success, 'IPv4 pool must be IPv4');
  t.notOk(networkConfigSchema.safeParse({ local: { ipv4Cidr: '198.18.0.0/31' } }).success, 'no room for tasks in a /31');
  t.notOk(
    securityGroupCatalogSchema.safeParse({ x: { ingress: [{ protocol: 'icmp', ports: [1, 2], cidrs: ['0.0.0.0/0'] }] } }).success,
    'icmp takes no ports',
  );
  t.notOk(securityGroupCatalogSchema.safeParse({ x: { ingress: [{ protocol: 'tcp', ports: [9, 1], cidrs: ['0.0.0.0/0'] }] } }).success);
  t.notOk(securityGroupCatalogSchema.safeParse({ x: { ingress: [{ protocol: 'tcp', cidrs: [] }] } }).success, 'at least one CIDR');
  t.notOk(securityGroupCatalogSchema.safeParse({ x: { ingress: [{ protocol: 'tcp', cidrs: ['nope'] }] } }).success);
});
