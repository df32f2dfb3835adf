import { isIPv4, isIPv6 } from 'node:net';
import { ExecutorError } from '../common/errors.js';
import { METADATA_IPV4, METADATA_IPV6 } from '../common/metadata-address.js';

/** Where tasks look for instance metadata. */
export const IMDS_IPV4 = METADATA_IPV4;
export const IMDS_IPV6 = METADATA_IPV6;

export interface MetadataNftOptions {
  /** The proxy's port on the host (`metadataProxy.listen.port`). */
  readonly proxyPort: number;
  /** nftables table (family inet) holding only these rules. */
  readonly table?: string;
  /** Host-side task interfaces, as an nft interface name or wildcard; the local driver names them `tx…`. */
  readonly taskInterfaces?: string;
  /**
   * `redirect` (default): to the address of the interface the packet came in
   * on, i.e. the task's gateway on its host-side veth, so the proxy listening
   * on 0.0.0.0 (or that gateway) gets it with no route_localnet. `dnat`: to a
   * fixed host address (not 127/8 unless route_localnet is set on the veths).
   */
  readonly target?: { readonly kind: 'redirect' } | { readonly kind: 'dnat'; readonly ipv4?: string; readonly ipv6?: string };
  /** Also fd00:ec2::254 (tasks with IPv6). */
  readonly ipv6?: boolean;
  /** Only task interfaces and lo may open connections to the proxy port (default true). */
  readonly guardProxyPort?: boolean;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}\*?$/;

/**
 * The nftables script the networking layer loads (`nft -f -`) on the host so
 * that task traffic to 169.254.169.254:80 (and [fd00:ec2::254]:80) reaches
 * the proxy. Pure: it only renders text. Re-loading it replaces the table
 * atomically (the script declares, deletes and re-creates it in one
 * transaction).
 */
export const metadataProxyNftScript = (o: MetadataNftOptions): string => {
  const table = o.table ?? 'titus_metadata';
  const ifname = o.taskInterfaces ?? 'tx*';
  const port = o.proxyPort;
  const target = o.target ?? { kind: 'redirect' };
  if (!TABLE_NAME.test(table)) throw new ExecutorError('INVALID_ARGUMENT', `metadata proxy nft: bad table name ${table}`);
  if (!IFNAME.test(ifname)) throw new ExecutorError('INVALID_ARGUMENT', `metadata proxy nft: bad interface name ${ifname}`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ExecutorError('INVALID_ARGUMENT', `metadata proxy nft: bad port ${port}`);
  const to4 = target.kind === 'redirect' ? `redirect to :${port}` : dnatTo('ip', target.ipv4, port);
  const prerouting = [`iifname "${ifname}" ip daddr ${IMDS_IPV4} tcp dport 80 ${to4}`];
  if (o.ipv6 === true) {
    const to6 = target.kind === 'redirect' ? `redirect to :${port}` : dnatTo('ip6', target.ipv6, port);
    prerouting.push(`iifname "${ifname}" ip6 daddr ${IMDS_IPV6} tcp dport 80 ${to6}`);
  }
  const lines = [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...prerouting.map((r) => `    ${r}`),
    '  }',
  ];
  if (o.guardProxyPort !== false) {
    lines.push(
      '  chain input {',
      '    type filter hook input priority filter; policy accept;',
      `    iifname "lo" tcp dport ${port} accept`,
      `    iifname "${ifname}" tcp dport ${port} accept`,
      `    tcp dport ${port} drop`,
      '  }',
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
};

/** Removes the table again (`nft -f -`); loading it when the table is absent fails, so check first or ignore. */
export const metadataProxyNftTeardown = (table = 'titus_metadata'): string => `delete table inet ${table}\n`;

const dnatTo = (family: 'ip' | 'ip6', address: string | undefined, port: number): string => {
  const valid = family === 'ip' ? address !== undefined && isIPv4(address) : address !== undefined && isIPv6(address);
  if (!valid) throw new ExecutorError('INVALID_ARGUMENT', `metadata proxy nft: dnat needs an ${family === 'ip' ? 'IPv4' : 'IPv6'} address`);
  return family === 'ip' ? `dnat ip to ${address}:${port}` : `dnat ip6 to [${address}]:${port}`;
};
