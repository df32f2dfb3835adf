import { priorityOfClassId, type FilterSettings } from './layout.js';
import type { PacketFilterTarget } from './types.js';
import { METADATA_IPV4, METADATA_IPV6 } from '../../common/metadata-address.js';

/** The instance metadata addresses (src/common/metadata-address.ts). */
export const DEFAULT_METADATA_IPV4 = METADATA_IPV4;
export const DEFAULT_METADATA_IPV6 = METADATA_IPV6;
/** The metadata proxy's redirect takes TCP to this port on the metadata addresses; nothing else to them passes. */
export const DEFAULT_PROXY_PORT = 80;

/** What every attachment of one PacketFilter shares. */
export interface FilterEnvironment {
  /** The host namespace the interfaces live in (the local driver's hostNetns), when not the executor's own. */
  readonly netnsPath?: string;
  readonly metadataIpv4: string;
  readonly metadataIpv6: string;
  readonly proxyPort: number;
  readonly commandTimeoutMs: number;
}

export const settingsFor = (target: PacketFilterTarget, environment: FilterEnvironment): FilterSettings => ({
  ipv4s: target.ipv4s,
  ipv6s: target.ipv6s,
  priority: priorityOfClassId(target.classId),
  metadataIpv4: environment.metadataIpv4,
  metadataIpv6: environment.metadataIpv6,
  proxyPort: environment.proxyPort,
});
