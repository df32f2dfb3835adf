import { ExecutorError } from '../common/errors.js';
import { canonicalAddress, familyOf, formatAddress, parseAddress, parseCidr, type IpFamily } from './addresses.js';
import { AddressPool } from './address-pool.js';
import { MemoryLeaseStore, type Lease, type LeaseStore } from './lease-store.js';

export type { Lease, LeaseStore } from './lease-store.js';

export interface IpamOptions {
  readonly ipv4Cidr: string;
  readonly ipv6Cidr?: string;
  readonly reservedAddresses?: readonly string[];
  readonly store?: LeaseStore;
}

export interface IpamUsage {
  ipv4Free: number;
  ipv4Total: number;
  ipv6Free?: number;
}

/** A bigint count as a number, capped so a /64 still reads as a (very large) number. */
const countToNumber = (count: bigint): number =>
  count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);

/**
 * Task address leases: at most one IPv4 and one IPv6 address per task, never
 * the same address to two tasks. Every change is saved to the LeaseStore
 * before the call returns, so a crash cannot lose a lease that was handed out.
 */
export class Ipam {
  readonly pool4: AddressPool;
  readonly pool6: AddressPool | undefined;
  private readonly byTask = new Map<string, Lease>();
  private readonly store: LeaseStore;
  private saving: Promise<void> = Promise.resolve();
  /** Leases from the store that could not be claimed when opening (logged by the driver). */
  loadProblems: readonly string[] = [];

  constructor(options: IpamOptions) {
    const reserved = (options.reservedAddresses ?? []).map((a) => ({ family: familyOf(a), value: parseAddress(a) }));
    const reservedOf = (family: IpFamily): bigint[] => reserved.filter((r) => r.family === family).map((r) => r.value);
    this.pool4 = new AddressPool(parseCidr(options.ipv4Cidr), reservedOf(4));
    if (this.pool4.cidr.family !== 4) throw new Error(`ipv4Cidr ${options.ipv4Cidr} is not IPv4`);
    this.pool6 = options.ipv6Cidr === undefined ? undefined : new AddressPool(parseCidr(options.ipv6Cidr), reservedOf(6));
    if (this.pool6 !== undefined && this.pool6.cidr.family !== 6) throw new Error(`ipv6Cidr ${options.ipv6Cidr} is not IPv6`);
    this.store = options.store ?? new MemoryLeaseStore();
  }

  /** An Ipam with the leases its store already holds. */
  static async open(options: IpamOptions): Promise<Ipam> {
    const ipam = new Ipam(options);
    ipam.loadProblems = ipam.claimAll(await ipam.store.load());
    return ipam;
  }

  lease(taskId: string): Lease | undefined {
    return this.byTask.get(taskId);
  }

  leases(): Lease[] {
    return [...this.byTask.values()];
  }

  usage(): IpamUsage {
    const usage: IpamUsage = { ipv4Free: countToNumber(this.pool4.free()), ipv4Total: countToNumber(this.pool4.total()) };
    if (this.pool6 !== undefined) usage.ipv6Free = countToNumber(this.pool6.free());
    return usage;
  }

  /**
   * The task's lease, creating it (or adding the IPv6 half) as needed, so a
   * retried attach gets the same addresses.
   */
  async allocate(taskId: string, want: { ipv6: boolean }): Promise<Lease> {
    const existing = this.byTask.get(taskId);
    const ipv4 = existing?.ipv4 ?? this.take(this.pool4, 'IPv4');
    let ipv6 = existing?.ipv6;
    try {
      if (want.ipv6 && ipv6 === undefined) ipv6 = this.take(this.requirePool6(), 'IPv6');
    } catch (err) {
      if (existing?.ipv4 === undefined) this.pool4.release(parseAddress(ipv4));
      throw err;
    }
    const lease: Lease = ipv6 === undefined ? { taskId, ipv4 } : { taskId, ipv4, ipv6 };
    this.byTask.set(taskId, lease);
    try {
      await this.persist();
    } catch (err) {
      this.forget(lease);
      if (existing !== undefined) this.claimAll([existing]);
      throw err;
    }
    return lease;
  }

  /** Frees the task's addresses; a task without a lease is not an error. */
  async release(taskId: string): Promise<Lease | undefined> {
    const lease = this.byTask.get(taskId);
    if (lease === undefined) return undefined;
    this.forget(lease);
    await this.persist();
    return lease;
  }

  /**
   * Re-claims leases from persisted attachments after a restart. Leases that
   * conflict with one already held are skipped and reported in one error after
   * all the others are in place.
   */
  async restore(leases: readonly Lease[]): Promise<void> {
    const conflicts = this.claimAll(leases);
    await this.persist();
    if (conflicts.length > 0) {
      throw new ExecutorError('INTERNAL', `cannot restore leases: ${conflicts.join('; ')}`);
    }
  }

  private take(pool: AddressPool, label: string): string {
    const address = pool.take();
    if (address === undefined) {
      throw new ExecutorError(
        'RESOURCE_EXHAUSTED',
        `${label} pool ${pool.text} is exhausted: ${pool.inUse()} of ${pool.total()} addresses in use`,
      );
    }
    return formatAddress(address, pool.cidr.family);
  }

  private requirePool6(): AddressPool {
    if (this.pool6 === undefined) {
      throw new ExecutorError('FAILED_PRECONDITION', 'IPv6 was requested but no IPv6 pool (ipv6Cidr) is configured');
    }
    return this.pool6;
  }

  /** Claims each lease's addresses; returns a message per lease that could not be claimed. */
  private claimAll(leases: readonly Lease[]): string[] {
    const conflicts: string[] = [];
    for (const lease of leases) {
      const problem = this.claimOne(lease);
      if (problem !== undefined) conflicts.push(problem);
    }
    return conflicts;
  }

  private claimOne(lease: Lease): string | undefined {
    const normalised = normaliseLease(lease);
    const current = this.byTask.get(lease.taskId);
    if (current !== undefined) {
      const same = current.ipv4 === normalised.ipv4 && current.ipv6 === normalised.ipv6;
      return same ? undefined : `task ${lease.taskId} already holds ${describe(current)}, not ${describe(normalised)}`;
    }
    const claimed: Array<{ pool: AddressPool; value: bigint }> = [];
    for (const address of [normalised.ipv4, normalised.ipv6]) {
      if (address === undefined) continue;
      const pool = this.poolContaining(address);
      // An address outside today's pools (config changed) is kept on the lease but reserves nothing.
      if (pool === undefined) continue;
      const value = parseAddress(address);
      if (pool.claim(value) === 'in-use') {
        claimed.forEach((c) => c.pool.release(c.value));
        return `${address} of task ${lease.taskId} is already leased to ${this.holderOf(address) ?? 'another task'}`;
      }
      claimed.push({ pool, value });
    }
    this.byTask.set(lease.taskId, normalised);
    return undefined;
  }

  private forget(lease: Lease): void {
    for (const address of [lease.ipv4, lease.ipv6]) {
      if (address === undefined) continue;
      this.poolContaining(address)?.release(parseAddress(address));
    }
    this.byTask.delete(lease.taskId);
  }

  private poolContaining(address: string): AddressPool | undefined {
    const value = parseAddress(address);
    if (this.pool4.cidr.family === familyOf(address) && this.pool4.contains(value)) return this.pool4;
    if (this.pool6 !== undefined && familyOf(address) === 6 && this.pool6.contains(value)) return this.pool6;
    return undefined;
  }

  private holderOf(address: string): string | undefined {
    for (const lease of this.byTask.values()) {
      if (lease.ipv4 === address || lease.ipv6 === address) return lease.taskId;
    }
    return undefined;
  }

  /** Saves a snapshot after any earlier save, whether or not that one failed. */
  private persist(): Promise<void> {
    const snapshot = this.leases();
    const next = this.saving.catch(() => undefined).then(() => this.store.save(snapshot));
    this.saving = next;
    return next;
  }
}

const normaliseLease = (lease: Lease): Lease => {
  const ipv4 = lease.ipv4 === undefined ? undefined : canonicalAddress(lease.ipv4);
  const ipv6 = lease.ipv6 === undefined ? undefined : canonicalAddress(lease.ipv6);
  return { taskId: lease.taskId, ...(ipv4 === undefined ? {} : { ipv4 }), ...(ipv6 === undefined ? {} : { ipv6 }) };
};

const describe = (lease: Lease): string => [lease.ipv4, lease.ipv6].filter((a) => a !== undefined).join(' and ') || 'nothing';
