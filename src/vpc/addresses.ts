import IPCIDR from 'ip-cidr';

/**
 * Addresses as bigints, so IPv4 and IPv6 pools share one allocator. ip-cidr
 * parses and validates; formatting is ours because ip-cidr returns IPv6
 * uncompressed and `ip -j` prints the RFC 5952 form we compare against.
 */
export type IpFamily = 4 | 6;

export interface ParsedCidr {
  readonly family: IpFamily;
  /** The network address (host bits cleared). */
  readonly network: bigint;
  readonly prefixLength: number;
  /** Number of addresses in the block. */
  readonly size: bigint;
  /** The canonical text, e.g. `198.18.0.0/24`. */
  readonly text: string;
}

export const familyOf = (address: string): IpFamily => (address.includes(':') ? 6 : 4);

export const isValidAddress = (address: string): boolean => IPCIDR.isValidAddress(address);

export const isValidCidr = (cidr: string): boolean => IPCIDR.isValidCIDR(cidr);

const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);

export const parseCidr = (cidr: string): ParsedCidr => {
  if (!IPCIDR.isValidCIDR(cidr)) throw new Error(`not a CIDR block: ${cidr}`);
  const block = new IPCIDR(cidr);
  const family = familyOf(cidr);
  const prefixLength = Number(cidr.slice(cidr.indexOf('/') + 1));
  const network = block.start<bigint>({ type: 'bigInteger' });
  const size = 1n << BigInt(bitsOf(family) - prefixLength);
  return { family, network, prefixLength, size, text: `${formatAddress(network, family)}/${prefixLength}` };
};

export const parseAddress = (address: string): bigint => {
  if (!IPCIDR.isValidAddress(address)) throw new Error(`not an IP address: ${address}`);
  const family = familyOf(address);
  return new IPCIDR(`${address}/${bitsOf(family)}`).start<bigint>({ type: 'bigInteger' });
};

/** Dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export const formatAddress = (value: bigint, family: IpFamily): string =>
  family === 4 ? formatIpv4(value) : formatIpv6(value);

const formatIpv4 = (value: bigint): string =>
  [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');

const formatIpv6 = (value: bigint): string => {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  const run = longestZeroRun(groups);
  const hex = groups.map((g) => g.toString(16));
  if (run.length < 2) return hex.join(':');
  const head = hex.slice(0, run.start).join(':');
  const tail = hex.slice(run.start + run.length).join(':');
  return `${head}::${tail}`;
};

const longestZeroRun = (groups: readonly number[]): { start: number; length: number } => {
  let best = { start: 0, length: 0 };
  let current = { start: 0, length: 0 };
  groups.forEach((group, index) => {
    if (group !== 0) {
      current = { start: index + 1, length: 0 };
      return;
    }
    current = { start: current.start, length: current.length + 1 };
    if (current.length > best.length) best = current;
  });
  return best;
};

/** The canonical text of an address, so leases compare equal whatever spelling config used. */
export const canonicalAddress = (address: string): string => formatAddress(parseAddress(address), familyOf(address));

export const cidrContains = (cidr: ParsedCidr, address: bigint): boolean =>
  address >= cidr.network && address < cidr.network + cidr.size;
