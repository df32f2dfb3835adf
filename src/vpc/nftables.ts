import { z } from 'zod';
import { parseCidr } from './addresses.js';
import { parseJsonOutput, runTool, type ToolContext } from './exec.js';
import type { SecurityGroupRule } from './config.js';
import type { EffectiveRules } from './security-groups.js';
import { VETH_PREFIX } from './naming.js';
import type { PublishedPort } from './published-ports.js';

/**
 * Security groups as one nftables table per task (family inet, so one rule
 * set covers IPv4 and IPv6), in the HOST namespace keyed on the host-side
 * veth name: a task with NET_ADMIN in its own namespace can neither see nor
 * change them. Each table has its own base chains; a packet must be accepted
 * by every table it meets, and each table only matches its own veth, so
 * tables compose without ordering concerns.
 *
 * - forward: peers (other tasks, other hosts) to the task → `to_task`
 *   (established/related, then the union of ingress rules, then drop);
 *   task to anywhere → `from_task` (anti-spoofing), the real instance
 *   metadata addresses dropped (a metadata proxy DNATs them in prerouting,
 *   before this hook, so only un-proxied traffic is dropped), then the egress
 *   rules unless some group allows all egress.
 * - output: the host itself to the task → `to_task` too (in EC2 the host is
 *   just another peer behind the security group). Neighbour discovery is let
 *   through there, or IPv6 could not resolve the task's address.
 * - input: task to the host → `from_task` only; egress rules do not apply to
 *   the host, so the gateway and the metadata proxy stay reachable.
 *
 * Loading uses `nft -f -` with "add table; delete table; table {…}" in one
 * transaction: atomic, and it replaces whatever an earlier attempt left.
 */

export interface TaskFirewall {
  readonly table: string;
  readonly hostVeth: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly rules: EffectiveRules;
  /** Instance metadata addresses tasks must not reach without the proxy. */
  readonly metadataIpv4: string;
  readonly metadataIpv6: string;
  /** Task ports reachable on the host's own addresses (IPv4), DNATed in this table's prerouting. */
  readonly publishedPorts?: readonly PublishedPort[];
}

const FAMILY = 'inet';

const quote = (name: string): string => `"${name}"`;

const l4protoFor = (rule: SecurityGroupRule, family: 4 | 6): string => {
  if (rule.protocol !== 'icmp') return rule.protocol;
  return family === 4 ? 'icmp' : 'ipv6-icmp';
};

const portMatch = (rule: SecurityGroupRule): string => {
  if (rule.ports === undefined) return '';
  const [from, to] = rule.ports;
  return from === to ? ` th dport ${from}` : ` th dport ${from}-${to}`;
};

/** One nft rule per CIDR: anonymous sets would reject overlapping prefixes. */
const renderRule = (rule: SecurityGroupRule, direction: 'saddr' | 'daddr'): string[] =>
  rule.cidrs.map((cidr) => {
    const parsed = parseCidr(cidr);
    const addressMatch = `${parsed.family === 4 ? 'ip' : 'ip6'} ${direction} ${parsed.text}`;
    return `${addressMatch} meta l4proto ${l4protoFor(rule, parsed.family)}${portMatch(rule)} accept`;
  });

const antiSpoofing = (firewall: TaskFirewall): string[] => {
  const ipv4 = firewall.ipv4 === undefined ? 'meta nfproto ipv4 drop' : `ip saddr != ${firewall.ipv4} drop`;
  // Link-local and the unspecified address: the task's own neighbour discovery and DAD.
  const allowed6 = ['fe80::/10', '::', ...(firewall.ipv6 === undefined ? [] : [firewall.ipv6])];
  return [ipv4, `ip6 saddr != { ${allowed6.join(', ')} } drop`];
};

const chain = (name: string, body: readonly string[], hook?: string): string => {
  const header = hook === undefined ? [] : [`type filter hook ${hook} priority filter; policy accept;`];
  return [`  chain ${name} {`, ...[...header, ...body].map((line) => `    ${line}`), '  }'].join('\n');
};

/** The nft script that (re)creates the task's table. */
export const renderTaskTable = (firewall: TaskFirewall): string => {
  const veth = quote(firewall.hostVeth);
  const toTask = chain('to_task', [
    'ct state established,related accept',
    'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
    ...firewall.rules.ingress.flatMap((rule) => renderRule(rule, 'saddr')),
    'drop',
  ]);
  const fromTask = chain('from_task', antiSpoofing(firewall));
  const egressRules = firewall.rules.egress === 'allow-all' ? [] : firewall.rules.egress;
  const egress = chain('egress', [
    'ct state established,related accept',
    ...egressRules.flatMap((rule) => renderRule(rule, 'daddr')),
    'drop',
  ]);
  const forward = chain(
    'hook_forward',
    [
      `oifname ${veth} jump to_task`,
      `iifname ${veth} jump from_task`,
      `iifname ${veth} ip daddr ${firewall.metadataIpv4} drop`,
      `iifname ${veth} ip6 daddr ${firewall.metadataIpv6} drop`,
      ...(firewall.rules.egress === 'allow-all' ? [] : [`iifname ${veth} jump egress`]),
    ],
    'forward',
  );
  const output = chain('hook_output', [`oifname ${veth} jump to_task`], 'output');
  // Published ports: what arrives from outside the task veths for the host's own address and port goes to the
  // task; the forward hook's to_task then applies the ingress rules, as to any peer.
  const published = firewall.publishedPorts ?? [];
  const dnat =
    published.length === 0 || firewall.ipv4 === undefined
      ? []
      : [
          [
            '  chain hook_prerouting {',
            '    type nat hook prerouting priority dstnat; policy accept;',
            ...published.map((p) => `    iifname != "${VETH_PREFIX}*" fib daddr type local ${p.protocol} dport ${p.hostPort} dnat ip to ${firewall.ipv4}:${p.taskPort}`),
            '  }',
          ].join('\n'),
        ];
  const input = chain('hook_input', [`iifname ${veth} jump from_task`], 'input');
  const comment = `# security groups: ${firewall.rules.groups.join(', ')}`;
  const body = [toTask, fromTask, ...(firewall.rules.egress === 'allow-all' ? [] : [egress]), forward, output, input, ...dnat];
  return [
    comment,
    `add table ${FAMILY} ${firewall.table}`,
    `delete table ${FAMILY} ${firewall.table}`,
    `table ${FAMILY} ${firewall.table} {`,
    body.join('\n'),
    '}',
    '',
  ].join('\n');
};

/** Loads the table atomically (one nft transaction from stdin). */
export const loadTaskTable = async (context: ToolContext, firewall: TaskFirewall): Promise<void> => {
  await runTool(context, ['nft', '-f', '-'], { input: renderTaskTable(firewall) });
};

export const deleteTable = async (context: ToolContext, table: string): Promise<'deleted' | 'absent'> => {
  const argv = ['nft', 'delete', 'table', FAMILY, table];
  const result = await runTool(context, argv, { allowFailure: true });
  if (result.code === 0) return 'deleted';
  if (/No such file or directory/i.test(result.stderr)) return 'absent';
  throw new Error(`${argv.join(' ')} exited with code ${result.code}: ${result.stderr.trim()}`);
};

const tablesSchema = z.object({
  nftables: z.array(z.object({ table: z.object({ family: z.string(), name: z.string() }).optional() })),
});

/** Names of the inet tables in the context's namespace, from `nft -j`. */
export const listInetTables = async (context: ToolContext): Promise<string[]> => {
  const argv = ['nft', '-j', 'list', 'tables', FAMILY];
  const { stdout } = await runTool(context, argv);
  const parsed = tablesSchema.parse(parseJsonOutput(argv, stdout));
  return parsed.nftables.flatMap((entry) => (entry.table === undefined ? [] : [entry.table.name]));
};
