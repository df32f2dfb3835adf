import { existsSync } from 'node:fs';
import { readCpuCount, readMemoryMb } from './cpu-and-memory.js';
import { diskUsage, type DiskUsage } from './disks.js';
import type { HostConfig } from './host-config.js';
import { bandwidthMbps, listNics, type Nic } from './nics.js';

/** What tasks may use in total. GPUs are not here: the GPU part owns them. */
export interface HostTotals {
  readonly cpu: number;
  readonly memoryMb: number;
  /** 0: unknown, not accounted. */
  readonly diskMb: number;
  /** 0: unknown or turned off, not accounted. */
  readonly networkMbps: number;
}

export interface HostCapacity {
  readonly totals: HostTotals;
  /** The filesystems tasks use: the state directory's, the engine data root's. */
  readonly disks: readonly DiskUsage[];
  readonly nics: readonly Nic[];
}

/** Re-read at most this often: launches ask on every call, and the machine rarely changes. */
const CACHE_MS = 5000;

/**
 * The machine's capacity for tasks, read from the kernel (/proc, /sys,
 * statfs) and overridden or reduced by the `host` config section.
 */
export class HostInventory {
  private cached: { at: number; capacity: HostCapacity } | undefined;

  constructor(
    private readonly config: HostConfig,
    private readonly stateDir: string,
    private readonly now: () => number = Date.now,
  ) {}

  capacity(): HostCapacity {
    const at = this.now();
    if (this.cached === undefined || at - this.cached.at >= CACHE_MS) this.cached = { at, capacity: this.read() };
    return this.cached.capacity;
  }

  private read(): HostCapacity {
    const c = this.config;
    const state = diskUsage(this.stateDir);
    // Only a data root that exists here: an engine on another machine has its own disks.
    const engine = existsSync(c.engineDataRoot) ? diskUsage(c.engineDataRoot) : undefined;
    const disks = [state, engine].filter((d): d is DiskUsage => d !== undefined);
    // Container layers and task writes land on the engine's filesystem when it is known.
    const taskDisk = engine ?? state;
    const nics = listNics();
    return {
      totals: {
        cpu: c.cpu ?? Math.max(0, readCpuCount() - c.reservedCpu),
        memoryMb: c.memoryMb ?? Math.max(0, readMemoryMb() - c.reservedMemoryMb),
        diskMb: c.diskMb ?? (taskDisk === undefined ? 0 : Math.max(0, taskDisk.totalMb - c.reservedDiskMb)),
        networkMbps: c.networkMbps ?? bandwidthMbps(nics),
      },
      disks,
      nics,
    };
  }
}
