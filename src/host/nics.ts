import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export interface Nic {
  readonly name: string;
  /** Link speed from the driver; 0 when it does not say (virtio, a link that is down). */
  readonly speedMbps: number;
  readonly addresses: readonly string[];
  /** It carries the IPv4 default route. */
  readonly defaultRoute: boolean;
}

export interface NicSources {
  readonly sysClassNet: string;
  readonly procNetRoute: string;
}

const LINUX: NicSources = { sysClassNet: '/sys/class/net', procNetRoute: '/proc/net/route' };

/** Interfaces with a default route (destination 00000000) in /proc/net/route. */
export const parseDefaultRouteInterfaces = (routeTable: string): Set<string> => {
  const names = new Set<string>();
  for (const line of routeTable.split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface !== undefined && destination === '00000000' && mask === '00000000') names.add(iface);
  }
  return names;
};

/** /sys/class/net/<if>/speed: Mbps, or -1 / EINVAL when the driver does not know. */
const readSpeed = (dir: string): number => {
  try {
    const n = Number(readFileSync(join(dir, 'speed'), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
};

const readText = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/**
 * The host's own network interfaces: those backed by a device (physical or
 * virtio NICs) and whichever carries the default route. Bridges, veths of
 * task sandboxes, ifbs and tunnels are left out: they are plumbing, not
 * capacity.
 */
export const listNics = (sources: NicSources = LINUX): Nic[] => {
  let names: string[];
  try {
    names = readdirSync(sources.sysClassNet);
  } catch {
    return [];
  }
  const routed = parseDefaultRouteInterfaces(readText(sources.procNetRoute));
  const addresses = os.networkInterfaces();
  return names
    .filter((name) => routed.has(name) || existsSync(join(sources.sysClassNet, name, 'device')))
    .sort()
    .map((name) => ({
      name,
      speedMbps: readSpeed(join(sources.sysClassNet, name)),
      addresses: (addresses[name] ?? []).map((a) => a.cidr ?? a.address),
      defaultRoute: routed.has(name),
    }));
};

/**
 * What tasks can share: the speed of the NIC with the default route, else the
 * fastest NIC; 0 (not accounted) when no link reports a speed.
 */
export const bandwidthMbps = (nics: readonly Nic[]): number => {
  const routed = nics.filter((n) => n.defaultRoute && n.speedMbps > 0);
  const pool = routed.length > 0 ? routed : nics;
  return pool.reduce((max, n) => Math.max(max, n.speedMbps), 0);
};
