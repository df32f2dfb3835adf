import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The one typed loader for the native addon (native/titus_bpf.cc, built by
 * scripts/build-native.sh into build/native/titus_bpf.node). Loading never
 * throws: a missing, unloadable or mismatched addon gives
 * `{ available: false, reason }`, and callers fall back (docs/ebpf.md).
 */

/** Bumped in titus_bpf.cc whenever its JavaScript API changes. */
export const ADDON_ABI_VERSION = 1;
export const ADDON_FILE = 'native/titus_bpf.node';
export const BPF_OBJECT_FILE = 'bpf/filter.o';

export interface BpfFilterTarget {
  readonly ifname: string;
  /** Network namespace file to work in (the operation's own thread enters it); the process's own when absent. */
  readonly netnsPath?: string;
  readonly handle: number;
  readonly priority: number;
  /** Expected program name: an attached filter running another program is refused (EEXIST). */
  readonly program?: string;
}

export interface BpfMapWrite {
  readonly map: string;
  /** Delete keys not written here (hash maps only). */
  readonly replace?: boolean;
  readonly entries: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>;
}

export interface BpfMapInfo {
  readonly id: number;
  readonly name: string;
  /** enum bpf_map_type */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
}

export interface BpfAttachedFilter {
  readonly ifindex: number;
  readonly progId: number;
  readonly progName: string;
  readonly maps: readonly BpfMapInfo[];
}

export interface BpfMapDump {
  /** Bytes between CPUs' values for per-CPU maps; 0 otherwise. */
  readonly percpuStride: number;
  readonly entries: ReadonlyArray<{ readonly key: Buffer; readonly value: Buffer }>;
}

/** The addon's exports. Every function rejects with a {@link NativeErrnoError}. */
export interface TitusBpfAddon {
  readonly abiVersion: number;
  readonly libbpfVersion: string;
  attach(
    options: BpfFilterTarget & { readonly program: string; readonly objectPath: string; readonly writes: readonly BpfMapWrite[] },
  ): Promise<{ ifindex: number; progId: number }>;
  update(options: BpfFilterTarget & { readonly writes: readonly BpfMapWrite[] }): Promise<void>;
  /** Removes the filter (and the clsact qdisc when nothing else is left on it); idempotent. */
  detach(options: BpfFilterTarget): Promise<{ removed: boolean; qdiscRemoved: boolean }>;
  query(options: BpfFilterTarget): Promise<BpfAttachedFilter | null>;
  dump(options: BpfFilterTarget & { readonly map: string }): Promise<BpfMapDump>;
  /** Loads the program into the kernel (verifier included) and frees it again. */
  probe(options: { readonly objectPath: string; readonly program: string }): Promise<void>;
}

/** How the addon reports a failed system call: errno negative, as in Node's own errors. */
export interface NativeErrnoError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly ifname?: string;
  /** libbpf's output, e.g. the verifier log. */
  readonly log?: string;
}

export const isNativeErrnoError = (err: unknown): err is NativeErrnoError =>
  err instanceof Error &&
  typeof (err as { code?: unknown }).code === 'string' &&
  typeof (err as { errno?: unknown }).errno === 'number' &&
  typeof (err as { syscall?: unknown }).syscall === 'string';

export type AddonLoad =
  | { readonly available: true; readonly addon: TitusBpfAddon; readonly path: string }
  | { readonly available: false; readonly reason: string };

const here = dirname(fileURLToPath(import.meta.url));

/**
 * `build/<relative>` in the nearest ancestor of this module that has it:
 * the checkout when running from src/ or dist/src/, /usr/lib/titus-executor
 * in the package.
 */
export const findBuildArtifact = (relative: string): string | undefined => {
  let dir = here;
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, 'build', relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
};

const FUNCTIONS = ['attach', 'update', 'detach', 'query', 'dump', 'probe'] as const;
const cache = new Map<string, AddonLoad>();

/** Loads (once per path) the addon at `path`, default the built one. */
export const loadTitusBpfAddon = (path?: string): AddonLoad => {
  const file = path ?? findBuildArtifact(ADDON_FILE);
  if (file === undefined) {
    return { available: false, reason: `the native addon is not built (no build/${ADDON_FILE}; run npm run build:native)` };
  }
  const cached = cache.get(file);
  if (cached !== undefined) return cached;
  const result = tryLoad(file);
  cache.set(file, result);
  return result;
};

const tryLoad = (file: string): AddonLoad => {
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(file);
  } catch (err) {
    return { available: false, reason: `the native addon ${file} does not load: ${err instanceof Error ? err.message : String(err)}` };
  }
  const addon = loaded as Partial<TitusBpfAddon> | null;
  if (addon === null || typeof addon !== 'object' || addon.abiVersion !== ADDON_ABI_VERSION) {
    return {
      available: false,
      reason: `the native addon ${file} has ABI version ${String(addon?.abiVersion)}, expected ${ADDON_ABI_VERSION} (rebuild it: npm run build:native)`,
    };
  }
  const missing = FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
  if (missing.length > 0) return { available: false, reason: `the native addon ${file} lacks ${missing.join(', ')}` };
  return { available: true, addon: addon as TitusBpfAddon, path: file };
};
