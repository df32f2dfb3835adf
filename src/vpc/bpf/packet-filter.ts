import { existsSync } from 'node:fs';
import { runCommand } from '../../common/command-runner.js';
import { ExecutorError, errorMessage } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { BPF_OBJECT_FILE, findBuildArtifact, isNativeErrnoError, loadTitusBpfAddon, type AddonLoad } from '../../native/index.js';
import { AddonPacketFilter } from './addon-filter.js';
import { PROGRAM_NAME } from './layout.js';
import { DEFAULT_METADATA_IPV4, DEFAULT_METADATA_IPV6, DEFAULT_PROXY_PORT, type FilterEnvironment } from './settings.js';
import { TcPacketFilter } from './tc-filter.js';
import type { FilterInspection, PacketFilter, PacketFilterConfigMode, PacketFilterTarget } from './types.js';

export interface PacketFilterOptions {
  /** `auto`: the addon, else tc; `addon` / `tc`: only that path; `off`: no filter at all. */
  readonly mode: PacketFilterConfigMode;
  /**
   * When no path works: true runs networked tasks without the filter (and
   * says so in the status); false refuses them with FAILED_PRECONDITION.
   */
  readonly allowUnfiltered: boolean;
  /** The compiled filter; default build/bpf/filter.o next to the app. */
  readonly objectPath?: string;
  readonly log?: Logger;
  /** The host namespace the task interfaces live in, when not the executor's own (`/run/netns/<hostNetns>`). */
  readonly netnsPath?: string;
  readonly metadataIpv4?: string;
  readonly metadataIpv6?: string;
  /** TCP port to the metadata addresses that the proxy's redirect takes (default 80). */
  readonly proxyPort?: number;
  /** Timeout of each tc/bpftool run (tc fallback), default 15 s. */
  readonly commandTimeoutMs?: number;
  /** The addon to use instead of build/native/titus_bpf.node (tests). */
  readonly loadAddon?: () => AddonLoad;
}

let currentStatus = 'packet filter: not set up';

/** The status line of the packet filter created last, for GetHostResources' status list. */
export const filterStatus = (): string => currentStatus;

/**
 * Picks how task packets are filtered and says so (log and filterStatus()).
 * Never throws for an unusable filter: when no path works it returns a filter
 * whose attach refuses with FAILED_PRECONDITION (so networked launches fail
 * and others run), or with allowUnfiltered a no-op filter. Throws
 * INVALID_ARGUMENT only for bad options.
 */
export const createPacketFilter = async (options: PacketFilterOptions): Promise<PacketFilter> => {
  const log = (options.log ?? silentLogger()).child({ component: 'packet-filter' });
  const environment: FilterEnvironment = {
    ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
    metadataIpv4: options.metadataIpv4 ?? DEFAULT_METADATA_IPV4,
    metadataIpv6: options.metadataIpv6 ?? DEFAULT_METADATA_IPV6,
    proxyPort: options.proxyPort ?? DEFAULT_PROXY_PORT,
    commandTimeoutMs: options.commandTimeoutMs ?? 15_000,
  };
  if (!Number.isInteger(environment.proxyPort) || environment.proxyPort < 0 || environment.proxyPort > 65535) {
    throw new ExecutorError('INVALID_ARGUMENT', `packetFilter.proxyPort ${environment.proxyPort} is not a port`);
  }
  const filter = await choose(options, environment, log);
  currentStatus = filter.status;
  if (filter.active) log.info({ mode: filter.mode, status: filter.status }, 'packet filter ready');
  else if (filter.mode === 'unfiltered') log.warn({ mode: filter.mode, status: filter.status }, 'tasks run WITHOUT the packet filter');
  else log.error({ mode: filter.mode, status: filter.status }, 'packet filter unavailable: networked tasks will be refused');
  return filter;
};

const choose = async (options: PacketFilterOptions, environment: FilterEnvironment, log: Logger): Promise<PacketFilter> => {
  if (options.mode === 'off') {
    return new UnfilteredPacketFilter('packet filter: off (packetFilter.mode off): no anti-spoofing or metadata filtering in the data path', log);
  }
  const problems: string[] = [];
  const objectPath = options.objectPath ?? findBuildArtifact(BPF_OBJECT_FILE);
  let objectUsable = objectPath !== undefined && existsSync(objectPath);
  if (!objectUsable) {
    problems.push(
      objectPath === undefined
        ? `no eBPF object (build/${BPF_OBJECT_FILE}; needs clang and libbpf-dev: npm run build:native)`
        : `no eBPF object at ${objectPath}`,
    );
  }
  let addonNote = '';

  if (objectPath !== undefined && objectUsable && (options.mode === 'auto' || options.mode === 'addon')) {
    const load = (options.loadAddon ?? (() => loadTitusBpfAddon()))();
    if (load.available) {
      try {
        await load.addon.probe({ objectPath, program: PROGRAM_NAME });
        return new AddonPacketFilter(
          load.addon,
          objectPath,
          environment,
          log,
          `packet filter: eBPF via the native addon (libbpf ${load.addon.libbpfVersion}), object ${objectPath}`,
        );
      } catch (err) {
        problems.push(`addon: ${errorMessage(err)}`);
        // The kernel or libbpf refused the object itself: tc would load the same bytes.
        if (isNativeErrnoError(err) && err.syscall.startsWith('bpf_object__')) objectUsable = false;
      }
    } else {
      problems.push(load.reason);
      addonNote = `; addon not used: ${load.reason}`;
    }
  }

  if (objectPath !== undefined && objectUsable && (options.mode === 'auto' || options.mode === 'tc')) {
    const missing = await missingFallbackTools(environment);
    if (missing.length === 0) {
      return new TcPacketFilter(objectPath, environment, log, `packet filter: eBPF via the tc fallback (tc + bpftool), object ${objectPath}${addonNote}`);
    }
    problems.push(`tc fallback: ${missing.join('; ')}`);
  }

  const why = problems.join('; ');
  if (options.allowUnfiltered) {
    return new UnfilteredPacketFilter(`packet filter: NOT ACTIVE, tasks run unfiltered (packetFilter.allowUnfiltered): ${why}`, log);
  }
  return new UnavailablePacketFilter(`packet filter: UNAVAILABLE, networked tasks are refused: ${why}`, why);
};

/** What the tc fallback lacks: a tc built with libbpf (iproute2's legacy loader cannot read BTF maps), bpftool. */
const missingFallbackTools = async (environment: FilterEnvironment): Promise<string[]> => {
  const missing: string[] = [];
  const version = async (argv: string[]): Promise<string | undefined> => {
    try {
      const result = await runCommand(argv, { timeoutMs: environment.commandTimeoutMs, allowFailure: true });
      return result.code === 0 ? `${result.stdout}${result.stderr}` : undefined;
    } catch {
      return undefined;
    }
  };
  const tc = await version(['tc', '-V']);
  if (tc === undefined) missing.push('no tc (iproute2)');
  else if (!/libbpf/i.test(tc)) missing.push(`tc is not built with libbpf (${tc.trim()})`);
  if ((await version(['bpftool', 'version'])) === undefined) missing.push('no bpftool');
  return missing;
};

/** Filters nothing, on purpose (mode off) or by permission (allowUnfiltered). */
export class UnfilteredPacketFilter implements PacketFilter {
  readonly mode = 'unfiltered' as const;
  readonly active = false;

  constructor(
    readonly status: string,
    private readonly log: Logger,
  ) {}

  attach(ifname: string, _target: PacketFilterTarget): Promise<void> {
    this.log.debug({ ifname }, 'no packet filter attached (unfiltered)');
    return Promise.resolve();
  }

  update(_ifname: string, _target: PacketFilterTarget): Promise<void> {
    return Promise.resolve();
  }

  detach(_ifname: string): Promise<void> {
    return Promise.resolve();
  }

  inspect(_ifname: string): Promise<FilterInspection | undefined> {
    return Promise.resolve(undefined);
  }
}

/** No path works and running unfiltered is not allowed: every networked task is refused. */
export class UnavailablePacketFilter implements PacketFilter {
  readonly mode = 'unavailable' as const;
  readonly active = false;

  constructor(
    readonly status: string,
    private readonly reason: string,
  ) {}

  attach(ifname: string, _target: PacketFilterTarget): Promise<void> {
    return Promise.reject(this.refusal(ifname));
  }

  update(ifname: string, _target: PacketFilterTarget): Promise<void> {
    return Promise.reject(this.refusal(ifname));
  }

  /** Nothing was attached by this filter; the interface's deletion removes anything older. */
  detach(_ifname: string): Promise<void> {
    return Promise.resolve();
  }

  inspect(_ifname: string): Promise<FilterInspection | undefined> {
    return Promise.resolve(undefined);
  }

  private refusal(ifname: string): ExecutorError {
    return new ExecutorError(
      'FAILED_PRECONDITION',
      `networked tasks need the packet filter (anti-spoofing, metadata isolation), which is unavailable on this host: ${this.reason}; ` +
        `fix the host (bash scripts/setup.sh && npm run build:native) or set packetFilter.allowUnfiltered to run tasks without it (interface ${ifname})`,
    );
  }
}
