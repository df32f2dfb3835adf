import { runTool, type ToolContext } from './exec.js';
import { replaceAddress } from './iproute.js';

/** The instance metadata addresses an ENI task must never reach through its ENI. */
export const GUARDED_METADATA_IPV4 = '169.254.169.254';
export const GUARDED_METADATA_IPV6 = 'fd00:ec2::254';

/** The nftables table (family inet) in an ENI task's namespace that keeps the metadata addresses on lo. */
export const METADATA_GUARD_TABLE = 'titus_imds_guard';

/**
 * The guard's ruleset, loaded atomically (`nft -f -`; re-loading replaces it).
 * Locally generated packets to the metadata addresses may only go out on lo,
 * where the task's own metadata listener sits; on any other interface (the
 * ENI, whatever route or SO_BINDTODEVICE a client uses) they are dropped, and
 * so is anything arriving on the ENI from those addresses (an answer of the
 * VPC's IMDS to something that slipped out). `policy accept`: only these
 * addresses are the guard's business; security groups are EC2's.
 */
export const metadataGuardScript = (): string =>
  [
    `table inet ${METADATA_GUARD_TABLE}`,
    `delete table inet ${METADATA_GUARD_TABLE}`,
    `table inet ${METADATA_GUARD_TABLE} {`,
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    oifname != "lo" ip daddr ${GUARDED_METADATA_IPV4} counter drop`,
    `    oifname != "lo" ip6 daddr ${GUARDED_METADATA_IPV6} counter drop`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname != "lo" ip saddr ${GUARDED_METADATA_IPV4} counter drop`,
    `    iifname != "lo" ip6 saddr ${GUARDED_METADATA_IPV6} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');

/**
 * Makes the metadata addresses local to an ENI task's namespace, before its
 * ENI is up: 169.254.169.254/32 (and fd00:ec2::254/128 when the task has
 * IPv6) on lo, so the kernel never routes them out of the namespace, plus the
 * nftables guard above for any path around that route. Both live in the
 * namespace itself, so they hold while the executor is down or restarting;
 * whatever answers there is the executor's per-task metadata listener, or
 * nothing (connection refused). Throws on any failure: the caller rolls the
 * attach back, so no ENI task ever runs unguarded.
 *
 * Root in the namespace with NET_ADMIN could undo it, and raw packet sockets
 * (NET_RAW) bypass netfilter: see docs/networking.md.
 */
export const guardMetadataInNetns = async (task: ToolContext, ipv6: boolean): Promise<void> => {
  await runTool(task, ['nft', '-f', '-'], { input: metadataGuardScript() });
  await replaceAddress(task, 'lo', `${GUARDED_METADATA_IPV4}/32`);
  if (ipv6) await replaceAddress(task, 'lo', `${GUARDED_METADATA_IPV6}/128`, { noDad: true });
};
