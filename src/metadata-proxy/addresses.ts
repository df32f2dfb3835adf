import { isIPv4, isIPv6 } from 'node:net';

/**
 * The one canonical spelling of a peer address, so a directory lookup cannot
 * be dodged by writing the same address differently: IPv4-mapped IPv6
 * (`::ffff:10.0.0.5`, what a dual-stack listener reports) becomes the IPv4
 * address, IPv6 is lower-cased and compressed. Anything else (zone ids,
 * garbage) is undefined and matches no task.
 */
export const canonicalAddress = (raw: string | undefined): string | undefined => {
  if (raw === undefined || raw === '') return undefined;
  if (isIPv4(raw)) return raw;
  if (!isIPv6(raw) || raw.includes('%')) return undefined;
  const compressed = new URL(`http://[${raw}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(compressed);
  if (mapped?.[1] !== undefined) return mapped[1];
  // The URL parser writes IPv4-mapped addresses in hex (::ffff:a00:5).
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (hexMapped?.[1] !== undefined && hexMapped[2] !== undefined) {
    const hi = parseInt(hexMapped[1], 16);
    const lo = parseInt(hexMapped[2], 16);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return compressed;
};
