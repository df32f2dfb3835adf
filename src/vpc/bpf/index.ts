export { packetFilterConfigSchema, type PacketFilterConfig } from './config.js';
export { createPacketFilter, filterStatus, UnavailablePacketFilter, UnfilteredPacketFilter, type PacketFilterOptions } from './packet-filter.js';
export { AddonPacketFilter } from './addon-filter.js';
export { TcPacketFilter } from './tc-filter.js';
export { DEFAULT_METADATA_IPV4, DEFAULT_METADATA_IPV6, DEFAULT_PROXY_PORT } from './settings.js';
export {
  COUNTER_NAMES,
  FILTER_HANDLE,
  FILTER_PRIORITY,
  MAP_NAMES,
  PROGRAM_NAME,
  priorityOfClassId,
  type CounterName,
  type FilterCounters,
} from './layout.js';
export type { FilterInspection, PacketFilter, PacketFilterConfigMode, PacketFilterMode, PacketFilterTarget } from './types.js';
