import { z } from 'zod';
import { CommandError } from '../../common/command-runner.js';
import { ExecutorError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { parseJsonOutput, runTool, type ToolContext } from '../exec.js';
import {
  countersFromStats,
  FILTER_HANDLE,
  FILTER_PRIORITY,
  MAP_STATS,
  mapWritesFor,
  PROGRAM_NAME,
  PROGRAM_SECTION,
  type MapWrite,
} from './layout.js';
import { settingsFor, type FilterEnvironment } from './settings.js';
import type { FilterInspection, PacketFilter, PacketFilterTarget } from './types.js';

/**
 * The escape hatch: the same object and the same filter (ingress hook, prio
 * 1, handle 1, protocol all, direct action) as the addon makes, attached by
 * iproute2's own libbpf loader
 *
 *   tc qdisc add dev X clsact      (unless an ingress or clsact qdisc is there)
 *   tc filter replace dev X ingress protocol all prio 1 handle 1 bpf da obj filter.o sec tc
 *
 * and filled with `bpftool batch` (map update/delete by id). The maps are
 * found through the filter: `tc -j filter show` gives the program id,
 * `bpftool prog show` its map ids. Nothing is pinned, so nothing outlives
 * the filter. Between `tc filter replace` and the map writes the filter is
 * unconfigured and drops everything, which is why it is attached before the
 * task's eth0 is up.
 */
export class TcPacketFilter implements PacketFilter {
  readonly mode = 'tc-fallback' as const;
  readonly active = true;
  private readonly context: ToolContext;

  constructor(
    private readonly objectPath: string,
    private readonly environment: FilterEnvironment,
    private readonly log: Logger,
    readonly status: string,
  ) {
    this.context = {
      timeoutMs: environment.commandTimeoutMs,
      ...(environment.netnsPath === undefined ? {} : { netnsPath: environment.netnsPath }),
    };
  }

  async attach(ifname: string, target: PacketFilterTarget): Promise<void> {
    const writes = mapWritesFor(settingsFor(target, this.environment));
    await this.guard('attach to', ifname, async () => {
      const created = await this.ensureHookQdisc(ifname);
      try {
        await this.tc([
          'filter', 'replace', 'dev', ifname, 'ingress', 'protocol', 'all',
          'prio', String(FILTER_PRIORITY), 'handle', String(FILTER_HANDLE),
          'bpf', 'da', 'obj', this.objectPath, 'sec', PROGRAM_SECTION,
        ]);
      } catch (err) {
        if (created) await this.removeEmptyClsact(ifname).catch(() => undefined);
        throw err;
      }
      const attached = await this.attachedFilter(ifname);
      if (attached === undefined) throw new Error(`tc filter replace on ${ifname} left no ${PROGRAM_NAME} filter`);
      // `tc filter replace` loaded a fresh copy of the object: its maps are empty, no stale keys to look for.
      await this.writeMaps(attached.maps, writes, { fresh: true });
      this.log.debug({ ifname, progId: attached.progId }, 'packet filter attached (tc)');
    });
  }

  async update(ifname: string, target: PacketFilterTarget): Promise<void> {
    const writes = mapWritesFor(settingsFor(target, this.environment));
    await this.guard('update on', ifname, async () => {
      const attached = await this.attachedFilter(ifname);
      if (attached === undefined) throw new Error(`no packet filter is attached to ${ifname}`);
      await this.writeMaps(attached.maps, writes);
    });
  }

  async detach(ifname: string): Promise<void> {
    await this.guard('detach from', ifname, async () => {
      if (!(await this.linkExists(ifname))) return;
      const attached = await this.attachedFilter(ifname);
      if (attached !== undefined) {
        await this.tc(['filter', 'del', 'dev', ifname, 'ingress', 'protocol', 'all', 'prio', String(FILTER_PRIORITY), 'handle', String(FILTER_HANDLE), 'bpf']);
      }
      await this.removeEmptyClsact(ifname);
      this.log.debug({ ifname, removed: attached !== undefined }, 'packet filter detached (tc)');
    });
  }

  async inspect(ifname: string): Promise<FilterInspection | undefined> {
    return this.guard('inspect on', ifname, async () => {
      if (!(await this.linkExists(ifname))) return undefined;
      const attached = await this.attachedFilter(ifname);
      if (attached === undefined) return undefined;
      const stats = attached.maps.find((m) => m.name === MAP_STATS);
      const entries = stats === undefined ? [] : await this.dumpPerCpu(stats.id);
      return { progId: attached.progId, progName: PROGRAM_NAME, maps: attached.maps, counters: countersFromStats(entries, 8) };
    });
  }

  // ---- tc ----------------------------------------------------------------------

  private async tc(args: readonly string[]): Promise<string> {
    return (await runTool(this.context, ['tc', ...args])).stdout;
  }

  private async linkExists(ifname: string): Promise<boolean> {
    return (await runTool(this.context, ['ip', 'link', 'show', 'dev', ifname], { allowFailure: true })).code === 0;
  }

  private async qdiscKinds(ifname: string): Promise<string[]> {
    const argv = ['tc', '-j', 'qdisc', 'show', 'dev', ifname];
    const out = (await runTool(this.context, argv)).stdout;
    return z.array(z.object({ kind: z.string() }).passthrough()).parse(parseJsonOutput(argv, out)).map((q) => q.kind);
  }

  /** Adds clsact unless an ingress-hook qdisc (clsact, or the bandwidth shaping's ingress) is there; true when added. */
  private async ensureHookQdisc(ifname: string): Promise<boolean> {
    const kinds = await this.qdiscKinds(ifname);
    if (kinds.includes('clsact') || kinds.includes('ingress')) return false;
    await this.tc(['qdisc', 'add', 'dev', ifname, 'clsact']);
    return true;
  }

  private async filters(ifname: string, direction: 'ingress' | 'egress'): Promise<TcFilter[]> {
    const argv = ['tc', '-j', 'filter', 'show', 'dev', ifname, direction];
    const result = await runTool(this.context, argv, { allowFailure: true });
    // No clsact/ingress qdisc: nothing to show (tc says so on stderr).
    if (result.code !== 0) return [];
    return z.array(tcFilterSchema).parse(parseJsonOutput(argv, result.stdout));
  }

  /** Deletes a clsact qdisc with no filters left; never an ingress qdisc (the bandwidth shaping's). */
  private async removeEmptyClsact(ifname: string): Promise<void> {
    if (!(await this.qdiscKinds(ifname)).includes('clsact')) return;
    const left = [...(await this.filters(ifname, 'ingress')), ...(await this.filters(ifname, 'egress'))];
    if (left.length === 0) await this.tc(['qdisc', 'del', 'dev', ifname, 'clsact']);
  }

  /** Our filter on the ingress hook with its maps, or undefined; someone else's filter in our slot is an error. */
  private async attachedFilter(ifname: string): Promise<{ progId: number; maps: Array<{ id: number; name: string }> } | undefined> {
    const ours = (await this.filters(ifname, 'ingress')).find(
      (f) => f.pref === FILTER_PRIORITY && f.options !== undefined && Number(f.options.handle) === FILTER_HANDLE,
    );
    if (ours === undefined) return undefined;
    const prog = ours.options?.prog;
    if (ours.kind !== 'bpf' || prog === undefined || prog.name !== PROGRAM_NAME) {
      throw Object.assign(
        new Error(`the filter at prio ${FILTER_PRIORITY} handle ${FILTER_HANDLE} on ${ifname} is not ${PROGRAM_NAME} (${ours.kind ?? '?'} ${prog?.name ?? ''})`),
        { code: 'EEXIST' },
      );
    }
    return { progId: prog.id, maps: await this.programMaps(prog.id) };
  }

  // ---- bpftool -----------------------------------------------------------------

  private async bpftoolJson(args: readonly string[]): Promise<unknown> {
    const argv = ['bpftool', '-j', ...args];
    return parseJsonOutput(argv, (await runTool(this.context, argv)).stdout);
  }

  private async programMaps(progId: number): Promise<Array<{ id: number; name: string }>> {
    const prog = z.object({ map_ids: z.array(z.number()).default([]) }).passthrough().parse(await this.bpftoolJson(['prog', 'show', 'id', String(progId)]));
    // One listing of all maps rather than one bpftool run per map.
    const all = z.array(z.object({ id: z.number(), name: z.string().default('') }).passthrough()).parse(await this.bpftoolJson(['map', 'show']));
    const ids = new Set(prog.map_ids);
    return all.filter((m) => ids.has(m.id)).map(({ id, name }) => ({ id, name }));
  }

  private async dumpKeys(mapId: number): Promise<string[]> {
    const entries = z.array(z.object({ key: z.array(z.string()) }).passthrough()).parse(await this.bpftoolJson(['map', 'dump', 'id', String(mapId)]));
    return entries.map((e) => e.key.map((b) => Number(b).toString(16).padStart(2, '0')).join(' '));
  }

  private async dumpPerCpu(mapId: number): Promise<Array<{ key: Buffer; value: Buffer }>> {
    const schema = z.array(
      z.object({ key: z.array(z.string()), values: z.array(z.object({ value: z.array(z.string()) }).passthrough()) }).passthrough(),
    );
    const entries = schema.parse(await this.bpftoolJson(['map', 'dump', 'id', String(mapId)]));
    const bytes = (hex: readonly string[]): Buffer => Buffer.from(hex.map((b) => Number(b)));
    return entries.map((e) => ({ key: bytes(e.key), value: Buffer.concat(e.values.map((v) => bytes(v.value))) }));
  }

  /** All writes in one `bpftool batch`: updates first, then the stale keys of replaced maps. */
  private async writeMaps(
    maps: ReadonlyArray<{ id: number; name: string }>,
    writes: readonly MapWrite[],
    options: { fresh?: boolean } = {},
  ): Promise<void> {
    const updates: string[] = [];
    const deletes: string[] = [];
    for (const write of writes) {
      const map = maps.find((m) => m.name === write.map);
      if (map === undefined) throw new Error(`the filter's program has no map ${write.map}`);
      const wanted = new Set<string>();
      for (const { key, value } of write.entries) {
        updates.push(`map update id ${map.id} key hex ${hexBytes(key)} value hex ${hexBytes(value)}`);
        wanted.add(hexBytes(key));
      }
      if (write.replace && options.fresh !== true) {
        for (const key of await this.dumpKeys(map.id)) if (!wanted.has(key)) deletes.push(`map delete id ${map.id} key hex ${key}`);
      }
    }
    const commands = [...updates, ...deletes];
    if (commands.length > 0) await runTool(this.context, ['bpftool', 'batch', 'file', '-'], { input: `${commands.join('\n')}\n` });
  }

  private async guard<T>(what: string, ifname: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ExecutorError) throw err;
      const denied = err instanceof CommandError && /Operation not permitted|Permission denied/i.test(err.stderr);
      const taken = err instanceof CommandError && /filter kind does not match/i.test(err.stderr);
      const hint = taken ? ` (another kind of filter holds prio ${FILTER_PRIORITY} on the ingress hook, where the packet filter must run first)` : '';
      throw new ExecutorError(denied ? 'FAILED_PRECONDITION' : 'INTERNAL', `packet filter (tc) ${what} ${ifname} failed: ${errorMessage(err)}${hint}`, {
        cause: err,
      });
    }
  }
}

const tcFilterSchema = z
  .object({
    kind: z.string().optional(),
    pref: z.number().optional(),
    options: z
      .object({
        handle: z.string().optional(),
        prog: z.object({ id: z.number(), name: z.string().optional() }).passthrough().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
type TcFilter = z.infer<typeof tcFilterSchema>;

const hexBytes = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
