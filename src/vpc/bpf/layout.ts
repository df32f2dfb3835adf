import { endianness } from 'node:os';
import { ExecutorError } from '../../common/errors.js';
import { familyOf, isValidAddress, parseAddress } from '../addresses.js';

/**
 * What filter.c expects in its maps, byte for byte, and how to read its
 * counters back. Both attach paths (the addon and tc + bpftool) write the
 * same bytes from here.
 */

export const PROGRAM_NAME = 'titus_egress';
/** The ELF section iproute2 is told to load (`tc … bpf da obj filter.o sec tc`). */
export const PROGRAM_SECTION = 'tc';
/**
 * Where the filter sits on the host veth's ingress hook. Priority 1 runs
 * before any other filter there; the bandwidth shaping's redirect to its IFB
 * must use a higher number (see docs/ebpf.md).
 */
export const FILTER_PRIORITY = 1;
export const FILTER_HANDLE = 1;

export const MAP_CONFIG = 'titus_config';
export const MAP_ALLOW_IPV4 = 'titus_allow4';
export const MAP_ALLOW_IPV6 = 'titus_allow6';
export const MAP_STATS = 'titus_stats';
export const MAP_NAMES = [MAP_CONFIG, MAP_ALLOW_IPV4, MAP_ALLOW_IPV6, MAP_STATS] as const;

/** max_entries of titus_allow4 / titus_allow6. */
export const MAX_ADDRESSES_PER_FAMILY = 64;

/** titus_stats indexes, in filter.c's order. */
export const COUNTER_NAMES = [
  'passed',
  'spoofedIpv4',
  'spoofedIpv6',
  'spoofedArp',
  'metadataDropped',
  'metadataProxied',
  'otherProtocol',
  'malformed',
  'unconfigured',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
/** Packets per counter, summed over CPUs. */
export type FilterCounters = Record<CounterName, number>;

const CONFIG_SIZE = 32;
const CONFIG_CONFIGURED = 1;

/** Everything one attachment's maps hold. */
export interface FilterSettings {
  readonly ipv4s: readonly string[];
  readonly ipv6s: readonly string[];
  /** skb->priority for the task's packets: the HTB class as TC_H_MAKE(major << 16, minor). */
  readonly priority: number;
  readonly metadataIpv4: string;
  readonly metadataIpv6: string;
  /** TCP port to the metadata addresses that passes (the proxy's redirect takes it); 0: none. */
  readonly proxyPort: number;
}

export interface MapWrite {
  readonly map: string;
  /** Delete keys not written here (hash maps). */
  readonly replace: boolean;
  readonly entries: ReadonlyArray<{ readonly key: Buffer; readonly value: Buffer }>;
}

const littleEndian = endianness() === 'LE';

const writeU32 = (buffer: Buffer, value: number, offset: number): void => {
  if (littleEndian) buffer.writeUInt32LE(value >>> 0, offset);
  else buffer.writeUInt32BE(value >>> 0, offset);
};

const writeU16 = (buffer: Buffer, value: number, offset: number): void => {
  if (littleEndian) buffer.writeUInt16LE(value, offset);
  else buffer.writeUInt16BE(value, offset);
};

/** An address in network byte order (4 or 16 bytes). */
export const addressBytes = (address: string, family: 4 | 6): Buffer => {
  if (!isValidAddress(address) || familyOf(address) !== family) {
    throw new ExecutorError('INVALID_ARGUMENT', `not an IPv${family} address: ${address}`);
  }
  const length = family === 4 ? 4 : 16;
  const value = parseAddress(address);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Number((value >> BigInt(8 * (length - 1 - i))) & 0xffn);
  return bytes;
};

/** The titus_config value (struct filter_config in filter.c, host byte order except the addresses). */
export const encodeConfig = (settings: FilterSettings): Buffer => {
  const config = Buffer.alloc(CONFIG_SIZE);
  writeU32(config, CONFIG_CONFIGURED, 0);
  writeU32(config, settings.priority, 4);
  addressBytes(settings.metadataIpv4, 4).copy(config, 8);
  writeU16(config, settings.proxyPort, 12);
  addressBytes(settings.metadataIpv6, 6).copy(config, 16);
  return config;
};

const u32Key = (value: number): Buffer => {
  const key = Buffer.alloc(4);
  writeU32(key, value, 0);
  return key;
};

const ALLOWED = Buffer.from([1]);

const uniqueBytes = (addresses: readonly string[], family: 4 | 6): Buffer[] => {
  const seen = new Map<string, Buffer>();
  for (const address of addresses) {
    const bytes = addressBytes(address, family);
    seen.set(bytes.toString('hex'), bytes);
  }
  if (seen.size > MAX_ADDRESSES_PER_FAMILY) {
    throw new ExecutorError('INVALID_ARGUMENT', `at most ${MAX_ADDRESSES_PER_FAMILY} IPv${family} addresses per task can be filtered`);
  }
  return [...seen.values()];
};

/**
 * The writes that make an attachment's maps say `settings`: the address sets
 * are replaced whole (new keys first, stale keys after), the config last, so
 * a first attach only turns CONFIGURED on once the addresses are in.
 */
export const mapWritesFor = (settings: FilterSettings): MapWrite[] => [
  { map: MAP_ALLOW_IPV4, replace: true, entries: uniqueBytes(settings.ipv4s, 4).map((key) => ({ key, value: ALLOWED })) },
  { map: MAP_ALLOW_IPV6, replace: true, entries: uniqueBytes(settings.ipv6s, 6).map((key) => ({ key, value: ALLOWED })) },
  { map: MAP_CONFIG, replace: false, entries: [{ key: u32Key(0), value: encodeConfig(settings) }] },
];

/**
 * A tc class id as skb->priority: `'1:10'` (hex, as tc writes it) is
 * 0x00010010; a number is taken as the priority itself; undefined is 0
 * (no class: the qdisc's default).
 */
export const priorityOfClassId = (classId: string | number | undefined): number => {
  if (classId === undefined) return 0;
  if (typeof classId === 'number') {
    if (!Number.isInteger(classId) || classId < 0 || classId > 0xffffffff) {
      throw new ExecutorError('INVALID_ARGUMENT', `classId ${classId} is not an unsigned 32-bit integer`);
    }
    return classId;
  }
  const match = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(classId);
  if (match === null) throw new ExecutorError('INVALID_ARGUMENT', `classId ${classId} is not MAJOR:MINOR (hex, as tc writes it)`);
  return ((parseInt(match[1] ?? '0', 16) << 16) | parseInt(match[2] ?? '0', 16)) >>> 0;
};

const readU64 = (buffer: Buffer, offset: number): bigint =>
  littleEndian ? buffer.readBigUInt64LE(offset) : buffer.readBigUInt64BE(offset);

const readU32 = (buffer: Buffer, offset: number): number => (littleEndian ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset));

/** Counters from titus_stats entries: key = u32 index, value = one u64 per CPU, `stride` bytes apart. */
export const countersFromStats = (entries: ReadonlyArray<{ key: Buffer; value: Buffer }>, stride = 8): FilterCounters => {
  const counters = Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as FilterCounters;
  for (const { key, value } of entries) {
    const name = COUNTER_NAMES[readU32(key, 0)];
    if (name === undefined) continue;
    let total = 0n;
    for (let offset = 0; offset + 8 <= value.length; offset += stride) total += readU64(value, offset);
    counters[name] = Number(total);
  }
  return counters;
};
