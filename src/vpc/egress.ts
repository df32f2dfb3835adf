import { z } from 'zod';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { EgressConfig } from './config.js';
import { parseJsonOutput, runTool, type ToolContext } from './exec.js';
import { VETH_PREFIX } from './naming.js';
import { writeSysctls } from './sysctl.js';

/** The pool-wide table (family inet) holding the source NAT; not a task's, so GC (titus_<hash>) never matches it. */
export const EGRESS_TABLE = 'titus_egress';

export interface EgressPlan {
  /** The host interface tasks' traffic leaves through. */
  readonly uplink: string;
  readonly pool4: string;
  readonly pool6?: string;
}

/**
 * The source NAT, loaded atomically (re-loading replaces it):
 *
 * - postrouting: what a pool address sends out of the uplink leaves with the
 *   uplink's address (masquerade). Security groups' egress rules run before,
 *   in the forward hook of each task's own table, so a task reaches only what
 *   its groups allow.
 * - forward: what comes in on the uplink is forwarded only to task veths (the
 *   uplink needs forwarding on for the answers to NATed connections, and must
 *   not make the host a router for its other interfaces); each task's table
 *   then lets in only answers and what its ingress rules allow.
 */
export const egressScript = (plan: EgressPlan): string => {
  const uplink = JSON.stringify(plan.uplink);
  const lines = [
    `table inet ${EGRESS_TABLE}`,
    `delete table inet ${EGRESS_TABLE}`,
    `table inet ${EGRESS_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    oifname ${uplink} ip saddr ${plan.pool4} masquerade`,
    ...(plan.pool6 === undefined ? [] : [`    oifname ${uplink} ip6 saddr ${plan.pool6} masquerade`]),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname ${uplink} oifname != "${VETH_PREFIX}*" drop`,
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
};

const routesSchema = z.array(z.object({ dev: z.string().optional() }).loose());

/** The device of the IPv4 default route in the context's namespace. */
export const defaultRouteInterface = async (host: ToolContext): Promise<string | undefined> => {
  const argv = ['ip', '-j', '-4', 'route', 'show', 'default'];
  const { stdout } = await runTool(host, argv);
  return routesSchema.parse(parseJsonOutput(argv, stdout))[0]?.dev;
};

/**
 * Sets up the source NAT when `egress.masquerade` is on: finds the uplink,
 * turns forwarding on for it (IPv4, and IPv6 where the kernel forwards per
 * interface), and loads the table. Returns the status line, or undefined when
 * off. Throws FAILED_PRECONDITION when it cannot: a driver asked for egress
 * that it cannot give does not start.
 */
export const setUpEgress = async (
  host: ToolContext,
  config: EgressConfig,
  pools: { readonly pool4: string; readonly pool6?: string },
  forceForwarding: boolean,
  log: Logger,
): Promise<string | undefined> => {
  if (!config.masquerade) return undefined;
  try {
    const uplink = config.interface ?? (await defaultRouteInterface(host));
    if (uplink === undefined) throw new Error('no interface configured (network.local.egress.interface) and no IPv4 default route to take it from');
    const pool6 = forceForwarding ? pools.pool6 : undefined;
    await writeSysctls(host, [
      { path: ['net', 'ipv4', 'conf', uplink, 'forwarding'], value: '1' },
      ...(pool6 === undefined ? [] : [{ path: ['net', 'ipv6', 'conf', uplink, 'force_forwarding'], value: '1' }]),
    ]);
    await runTool(host, ['nft', '-f', '-'], { input: egressScript({ uplink, pool4: pools.pool4, ...(pool6 === undefined ? {} : { pool6 }) }) });
    if (pools.pool6 !== undefined && pool6 === undefined) {
      log.warn({ uplink }, 'IPv6 tasks get no egress: this kernel cannot forward IPv6 per interface (force_forwarding, Linux 6.17+)');
    }
    const status = `egress: source NAT of ${[pools.pool4, pool6].filter((p) => p !== undefined).join(' and ')} through ${uplink} (security groups' egress rules apply)`;
    log.info({ uplink, pool4: pools.pool4, pool6 }, status);
    return status;
  } catch (err) {
    throw new ExecutorError('FAILED_PRECONDITION', `network.local.egress: ${errorMessage(err)}`, { cause: err });
  }
};
