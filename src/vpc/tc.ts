import { z } from 'zod';
import { parseJsonOutput, runTool, type ToolContext } from './exec.js';

/**
 * Per-task bandwidth limits, all on the host side where a task with
 * NET_ADMIN in its own namespace cannot undo them.
 *
 * - Traffic TO the task leaves the host through the host-side veth: an HTB
 *   tree on that veth's root shapes it.
 * - Traffic FROM the task arrives on the host-side veth's ingress, where a
 *   qdisc cannot queue. An ingress qdisc with a match-everything u32 filter
 *   redirects it (mirred) to a per-task IFB device, whose root carries the
 *   same HTB tree; after the IFB the packet continues as if received on the
 *   veth. Shaping (queueing) is used in both directions rather than policing
 *   (dropping), because TCP through a policer oscillates well below the rate;
 *   this kernel also has no act_police.
 *
 * HTB tree on both devices: root class 1:1 (rate = ceil = the ceiling) with
 * one leaf 1:10 (rate = the task's rate, ceil = the ceiling), default 10.
 * Without bursting the ceiling equals the rate. With bursting the leaf may
 * borrow from 1:1 up to the ceiling (burstCeilMbps, default the host link
 * speed) whenever it has backlog: sustained, not a short token burst. As each
 * task has its own tree, the host's physical link is what tasks share when
 * they burst; the rate is what the task is promised and what is accounted.
 */

export interface BandwidthLimit {
  readonly rateMbps: number;
  readonly ceilMbps: number;
}

/** undefined = unlimited (bandwidthMbps 0): no qdiscs and no IFB at all. */
export const bandwidthLimitFor = (
  bandwidthMbps: number,
  allowBursting: boolean,
  burstCeilMbps: number,
): BandwidthLimit | undefined => {
  if (bandwidthMbps <= 0) return undefined;
  const ceilMbps = allowBursting ? Math.max(bandwidthMbps, burstCeilMbps) : bandwidthMbps;
  return { rateMbps: bandwidthMbps, ceilMbps };
};

export interface ShapedDevices {
  /** Host-side veth. */
  readonly hostVeth: string;
  /** IFB device for the task's outgoing traffic. */
  readonly ifb: string;
}

const mbit = (mbps: number): string => `${mbps}mbit`;

/** The HTB tree of one device, as tc batch lines. */
const htbTree = (device: string, limit: BandwidthLimit, mtu: number): string[] => {
  // quantum only splits bandwidth between sibling leaves; one MTU-sized frame
  // silences HTB's "quantum is big" warning at high rates.
  const quantum = String(mtu + 14);
  return [
    `qdisc add dev ${device} root handle 1: htb default 10`,
    `class add dev ${device} parent 1: classid 1:1 htb rate ${mbit(limit.ceilMbps)} ceil ${mbit(limit.ceilMbps)} quantum ${quantum}`,
    `class add dev ${device} parent 1:1 classid 1:10 htb rate ${mbit(limit.rateMbps)} ceil ${mbit(limit.ceilMbps)} quantum ${quantum}`,
  ];
};

/** Everything on the veth's ingress goes to the IFB (and continues as if received on the veth after it). */
const redirectIngressToIfb = (device: string, ifb: string): string[] => [
  `qdisc add dev ${device} handle ffff: ingress`,
  `filter add dev ${device} parent ffff: protocol all prio 2 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
];

/** The tc commands that shape both directions, in order (tc -batch stops at the first failure). */
export const bandwidthLimitBatch = (devices: ShapedDevices, limit: BandwidthLimit, mtu: number): string[] => [
  ...htbTree(devices.hostVeth, limit, mtu),
  ...htbTree(devices.ifb, limit, mtu),
  ...redirectIngressToIfb(devices.hostVeth, devices.ifb),
];

/**
 * Shapes both directions in one `tc -batch -`. The veth and the IFB must
 * exist (the IFB is created and set up with the veth, in the same ip batch)
 * and have no qdiscs yet.
 */
export const applyBandwidthLimit = async (
  context: ToolContext,
  devices: ShapedDevices,
  limit: BandwidthLimit,
  mtu: number,
): Promise<void> => {
  await runTool(context, ['tc', '-batch', '-'], { input: `${bandwidthLimitBatch(devices, limit, mtu).join('\n')}\n` });
};

const qdiscSchema = z.object({ kind: z.string(), handle: z.string().optional(), root: z.boolean().optional() });
export type Qdisc = z.infer<typeof qdiscSchema>;

/** The device's qdiscs from `tc -j`; empty when the device does not exist. */
export const listQdiscs = async (context: ToolContext, device: string): Promise<Qdisc[]> => {
  const argv = ['tc', '-j', 'qdisc', 'show', 'dev', device];
  const result = await runTool(context, argv, { allowFailure: true });
  if (result.code !== 0) return [];
  return z.array(qdiscSchema).parse(parseJsonOutput(argv, result.stdout));
};
