import type { FilterCounters } from './layout.js';

/** How a PacketFilter works: which path attaches the eBPF program, or why none does. */
export type PacketFilterMode = 'addon' | 'tc-fallback' | 'unfiltered' | 'unavailable';

/** What config asks for: `auto` tries the addon, then tc; `off` filters nothing. */
export type PacketFilterConfigMode = 'auto' | 'addon' | 'tc' | 'off';

/** One task's side of the filter. */
export interface PacketFilterTarget {
  /** The only IPv4 source addresses the task may send from (normally one). */
  readonly ipv4s: readonly string[];
  readonly ipv6s: readonly string[];
  /**
   * The HTB class its outgoing packets are put in (skb->priority), as tc
   * writes it (`'1:10'`, hex) or as the raw priority number; absent: 0, the
   * qdisc's default class.
   */
  readonly classId?: string | number;
}

export interface FilterInspection {
  readonly progId: number;
  readonly progName: string;
  readonly maps: ReadonlyArray<{ readonly id: number; readonly name: string }>;
  readonly counters: FilterCounters;
}

/**
 * The per-task egress filter on a host-side interface (docs/ebpf.md). attach
 * before the task can send (its eth0 is still down), detach on every exit
 * path; deleting the interface also removes it.
 */
export interface PacketFilter {
  readonly mode: PacketFilterMode;
  /** True when attach really filters (addon or tc-fallback). */
  readonly active: boolean;
  /** One line for GetHostResources' status list. */
  readonly status: string;
  /** Attaches (or re-attaches, replacing) the filter on `ifname` with the task's addresses and class. */
  attach(ifname: string, target: PacketFilterTarget): Promise<void>;
  /** Replaces the attached filter's addresses and class in place. */
  update(ifname: string, target: PacketFilterTarget): Promise<void>;
  /** Removes the filter; idempotent, and a missing interface counts as detached. */
  detach(ifname: string): Promise<void>;
  /** The attached filter and its counters, or undefined when none is attached. */
  inspect(ifname: string): Promise<FilterInspection | undefined>;
}
