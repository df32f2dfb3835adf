import { ExecutorError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { isNativeErrnoError, type BpfFilterTarget, type TitusBpfAddon } from '../../native/index.js';
import { countersFromStats, FILTER_HANDLE, FILTER_PRIORITY, MAP_STATS, mapWritesFor, PROGRAM_NAME } from './layout.js';
import { settingsFor, type FilterEnvironment } from './settings.js';
import type { FilterInspection, PacketFilter, PacketFilterTarget } from './types.js';

/** The filter through the native addon: libbpf loads, fills and attaches in-process. */
export class AddonPacketFilter implements PacketFilter {
  readonly mode = 'addon' as const;
  readonly active = true;

  constructor(
    private readonly addon: TitusBpfAddon,
    private readonly objectPath: string,
    private readonly environment: FilterEnvironment,
    private readonly log: Logger,
    readonly status: string,
  ) {}

  async attach(ifname: string, target: PacketFilterTarget): Promise<void> {
    const writes = mapWritesFor(settingsFor(target, this.environment));
    try {
      const { progId } = await this.addon.attach({ ...this.target(ifname), program: PROGRAM_NAME, objectPath: this.objectPath, writes });
      this.log.debug({ ifname, progId }, 'packet filter attached');
    } catch (err) {
      throw filterError('attach to', ifname, err);
    }
  }

  async update(ifname: string, target: PacketFilterTarget): Promise<void> {
    const writes = mapWritesFor(settingsFor(target, this.environment));
    try {
      await this.addon.update({ ...this.target(ifname), writes });
    } catch (err) {
      throw filterError('update on', ifname, err);
    }
  }

  async detach(ifname: string): Promise<void> {
    try {
      const result = await this.addon.detach(this.target(ifname));
      this.log.debug({ ifname, ...result }, 'packet filter detached');
    } catch (err) {
      // The interface is gone, and its filter, program and maps with it.
      if (isNativeErrnoError(err) && err.code === 'ENODEV') return;
      throw filterError('detach from', ifname, err);
    }
  }

  async inspect(ifname: string): Promise<FilterInspection | undefined> {
    try {
      const attached = await this.addon.query(this.target(ifname));
      if (attached === null) return undefined;
      const stats = await this.addon.dump({ ...this.target(ifname), map: MAP_STATS });
      return {
        progId: attached.progId,
        progName: attached.progName,
        maps: attached.maps.map(({ id, name }) => ({ id, name })),
        counters: countersFromStats(stats.entries, stats.percpuStride || 8),
      };
    } catch (err) {
      if (isNativeErrnoError(err) && err.code === 'ENODEV') return undefined;
      throw filterError('inspect on', ifname, err);
    }
  }

  private target(ifname: string): BpfFilterTarget {
    return {
      ifname,
      ...(this.environment.netnsPath === undefined ? {} : { netnsPath: this.environment.netnsPath }),
      handle: FILTER_HANDLE,
      priority: FILTER_PRIORITY,
      program: PROGRAM_NAME,
    };
  }
}

/**
 * An ExecutorError around the addon's errno-shaped error (kept as `cause`):
 * missing privileges are the host's fault (FAILED_PRECONDITION), the rest INTERNAL.
 */
const filterError = (what: string, ifname: string, err: unknown): ExecutorError => {
  if (err instanceof ExecutorError) return err;
  const code = isNativeErrnoError(err) && (err.code === 'EPERM' || err.code === 'EACCES') ? 'FAILED_PRECONDITION' : 'INTERNAL';
  return new ExecutorError(code, `packet filter ${what} ${ifname} failed: ${errorMessage(err)}`, { cause: err });
};
