import { cidrContains, formatAddress, type ParsedCidr } from './addresses.js';

/**
 * One CIDR block handing out single addresses. Reserved: the network address
 * (IPv6: the subnet-router anycast address), the gateway (the first usable
 * address, carried by the host side), the IPv4 broadcast address, and any
 * operator-reserved addresses.
 *
 * Allocation is next-fit from a cursor rather than lowest-free, so a released
 * address is the last to come back: peers' ARP/neighbour caches and conntrack
 * entries for it have time to expire before another task gets it.
 */
export class AddressPool {
  readonly gateway: bigint;
  private readonly first: bigint;
  private readonly last: bigint;
  private readonly reserved: ReadonlySet<bigint>;
  private readonly used = new Set<bigint>();
  private cursor: bigint;

  constructor(
    readonly cidr: ParsedCidr,
    reservedAddresses: Iterable<bigint> = [],
  ) {
    this.gateway = cidr.network + 1n;
    this.first = cidr.network + 2n;
    // IPv4 loses its broadcast address; IPv6 has none.
    this.last = cidr.network + cidr.size - (cidr.family === 4 ? 2n : 1n);
    this.reserved = new Set([...reservedAddresses].filter((a) => this.isUsable(a)));
    this.cursor = this.first;
  }

  get text(): string {
    return this.cidr.text;
  }

  get gatewayText(): string {
    return formatAddress(this.gateway, this.cidr.family);
  }

  total(): bigint {
    const span = this.last >= this.first ? this.last - this.first + 1n : 0n;
    return span - BigInt(this.reserved.size);
  }

  inUse(): number {
    return this.used.size;
  }

  free(): bigint {
    return this.total() - BigInt(this.used.size);
  }

  contains(address: bigint): boolean {
    return cidrContains(this.cidr, address);
  }

  /** The next free address after the cursor, or undefined when the pool is full. */
  take(): bigint | undefined {
    if (this.free() <= 0n) return undefined;
    // At most used + reserved candidates can be unavailable, so this ends quickly even for a /64.
    const maxSteps = this.used.size + this.reserved.size + 1;
    let candidate = this.cursor;
    for (let step = 0; step <= maxSteps; step++) {
      if (this.isAvailable(candidate)) {
        this.used.add(candidate);
        this.cursor = this.next(candidate);
        return candidate;
      }
      candidate = this.next(candidate);
    }
    return undefined;
  }

  /** Marks an address used (restore); says why when it cannot be. */
  claim(address: bigint): 'claimed' | 'not-usable' | 'in-use' {
    if (!this.isUsable(address) || this.reserved.has(address)) return 'not-usable';
    if (this.used.has(address)) return 'in-use';
    this.used.add(address);
    return 'claimed';
  }

  release(address: bigint): void {
    this.used.delete(address);
  }

  private isUsable(address: bigint): boolean {
    return address >= this.first && address <= this.last;
  }

  private isAvailable(address: bigint): boolean {
    return !this.used.has(address) && !this.reserved.has(address);
  }

  private next(address: bigint): bigint {
    return address >= this.last ? this.first : address + 1n;
  }
}
