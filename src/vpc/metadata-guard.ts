import { runTool, type ToolContext } from './exec.js';
import { replaceAddress } from './iproute.js';
import { METADATA_IPV4, METADATA_IPV6 } from '../common/metadata-address.js';

/** The instance metadata addresses an ENI task must never reach through its ENI. */
export const GUARDED_METADATA_IPV4 = METADATA_IPV4;
export const GUARDED_METADATA_IPV6 = METADATA_IPV6;

/** The nftables table (family inet) in an ENI task's namespace that keeps the metadata addresses on lo. */
export const METADATA_GUARD_TABLE = 'titus_imds_guard';
/** The table (family netdev) on the ENI itself, for what does not pass the IP stack (raw packet sockets). */
export const METADATA_GUARD_DEVICE_TABLE = 'titus_imds_guard_dev';
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The guard's ruleset, loaded atomically (`nft -f -`; re-loading replaces it).
 *
 * - `inet` table: locally generated packets to the metadata addresses may
 *   only go out on lo, where the task's own metadata listener sits; on any
 *   other interface (the ENI, whatever route or SO_BINDTODEVICE a client
 *   uses) they are dropped, and so is anything arriving from those addresses
 *   on another interface (an answer of the VPC's IMDS).
 * - `netdev` table on the ENI's egress hook: frames a raw packet socket
 *   (NET_RAW, which Docker grants by default) writes to the ENI skip the IP
 *   stack and the inet hooks, but not this hook (the kernel runs it for
 *   PACKET_QDISC_BYPASS too). Frames to the metadata addresses are dropped,
 *   and so is anything not plain IPv4, IPv6 or ARP (no VLAN or other
 *   encapsulation to hide an address in).
 *
 * `policy accept` otherwise: security groups are EC2's business.
 */
export const metadataGuardScript = (device: string): string => {
  if (!IFNAME.test(device)) throw new Error(`metadata guard: bad interface name ${JSON.stringify(device)}`);
  return [
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
    `table netdev ${METADATA_GUARD_DEVICE_TABLE}`,
    `delete table netdev ${METADATA_GUARD_DEVICE_TABLE}`,
    `table netdev ${METADATA_GUARD_DEVICE_TABLE} {`,
    '  chain egress {',
    `    type filter hook egress device "${device}" priority filter; policy accept;`,
    '    meta protocol != { ip, ip6, arp } counter drop',
    `    ip daddr ${GUARDED_METADATA_IPV4} counter drop`,
    `    ip6 daddr ${GUARDED_METADATA_IPV6} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
};

/**
 * Makes the metadata addresses local to an ENI task's namespace, before its
 * ENI (`device`) is up: 169.254.169.254/32 (and fd00:ec2::254/128 when the
 * task has IPv6) on lo, so the kernel never routes them out of the namespace,
 * plus the nftables guard above for any path around that route. Both live in the
 * namespace itself, so they hold while the executor is down or restarting;
 * whatever answers there is the executor's per-task metadata listener, or
 * nothing (connection refused). Throws on any failure: the caller rolls the
 * attach back, so no ENI task ever runs unguarded.
 *
 * A task granted NET_ADMIN could undo it in its own namespace: see
 * docs/networking.md.
 */
export const guardMetadataInNetns = async (task: ToolContext, device: string, ipv6: boolean): Promise<void> => {
  await runTool(task, ['nft', '-f', '-'], { input: metadataGuardScript(device) });
  await replaceAddress(task, 'lo', `${GUARDED_METADATA_IPV4}/32`);
  if (ipv6) await replaceAddress(task, 'lo', `${GUARDED_METADATA_IPV6}/128`, { noDad: true });
};
