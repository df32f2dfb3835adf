import { z } from 'zod';
import { parseJsonOutput, runTool, type ToolContext } from './exec.js';

/** Thin wrappers over iproute2's `ip`; listings come from `ip -j` (JSON), never from text. */

const linkSchema = z.object({
  ifname: z.string(),
  ifalias: z.string().optional(),
  address: z.string().optional(),
  mtu: z.number().optional(),
  operstate: z.string().optional(),
  flags: z.array(z.string()).default([]),
  linkinfo: z.object({ info_kind: z.string().optional() }).optional(),
});
export type Link = z.infer<typeof linkSchema>;

const addressInfoSchema = z.object({
  family: z.string(),
  local: z.string(),
  prefixlen: z.number(),
  scope: z.string().optional(),
});
const linkAddressesSchema = z.object({ ifname: z.string(), addr_info: z.array(addressInfoSchema).default([]) });
export type AddressInfo = z.infer<typeof addressInfoSchema>;

const routeSchema = z.object({
  dst: z.string(),
  gateway: z.string().optional(),
  dev: z.string().optional(),
  prefsrc: z.string().optional(),
  scope: z.string().optional(),
});
export type Route = z.infer<typeof routeSchema>;

const ipJson = async <T>(context: ToolContext, args: readonly string[], schema: z.ZodType<T>): Promise<T> => {
  const argv = ['ip', '-j', ...args];
  const { stdout } = await runTool(context, argv);
  const parsed = schema.safeParse(parseJsonOutput(argv, stdout));
  if (!parsed.success) throw new Error(`unexpected output from ${argv.join(' ')}: ${parsed.error.message}`);
  return parsed.data;
};

const isMissingDevice = (stderr: string): boolean => /Cannot find device|does not exist/i.test(stderr);

/** Links with their kind (`veth`, `ifb`, …) in `linkinfo.info_kind`. */
export const listLinks = (context: ToolContext): Promise<Link[]> =>
  ipJson(context, ['-d', 'link', 'show'], z.array(linkSchema));

export const findLink = async (context: ToolContext, name: string): Promise<Link | undefined> => {
  const argv = ['ip', '-j', '-d', 'link', 'show', 'dev', name];
  const result = await runTool(context, argv, { allowFailure: true });
  if (result.code !== 0) {
    if (isMissingDevice(result.stderr)) return undefined;
    throw new Error(`${argv.join(' ')} failed: ${result.stderr.trim()}`);
  }
  return z.array(linkSchema).parse(parseJsonOutput(argv, result.stdout))[0];
};

/** Deletes a link; says whether there was one. Deleting one end of a veth removes both. */
export const deleteLink = async (context: ToolContext, name: string): Promise<'deleted' | 'absent'> => {
  const argv = ['ip', 'link', 'del', 'dev', name];
  const result = await runTool(context, argv, { allowFailure: true });
  if (result.code === 0) return 'deleted';
  if (isMissingDevice(result.stderr)) return 'absent';
  throw new Error(`${argv.join(' ')} exited with code ${result.code}: ${result.stderr.trim()}`);
};

export const setLinkUp = async (context: ToolContext, name: string): Promise<void> => {
  await runTool(context, ['ip', 'link', 'set', 'dev', name, 'up']);
};

export interface AddressOptions {
  /** No prefix route for the address's subnet: every peer is reached through the gateway. */
  readonly noPrefixRoute?: boolean;
  /** Skip IPv6 duplicate address detection, so the address is usable at once. */
  readonly noDad?: boolean;
}

export const replaceAddress = async (
  context: ToolContext,
  device: string,
  cidr: string,
  options: AddressOptions = {},
): Promise<void> => {
  const flags = [...(options.noPrefixRoute === true ? ['noprefixroute'] : []), ...(options.noDad === true ? ['nodad'] : [])];
  const family = cidr.includes(':') ? '-6' : '-4';
  await runTool(context, ['ip', family, 'addr', 'replace', cidr, 'dev', device, ...flags]);
};

export const listAddresses = async (context: ToolContext, device: string): Promise<AddressInfo[]> => {
  const links = await ipJson(context, ['addr', 'show', 'dev', device], z.array(linkAddressesSchema));
  return links.flatMap((link) => link.addr_info);
};

export interface RouteSpec {
  readonly destination: string;
  readonly device: string;
  readonly via?: string;
  readonly source?: string;
  readonly scopeLink?: boolean;
}

/** `ip route replace`: idempotent, so a retried attach does not trip over its own routes. */
export const replaceRoute = async (context: ToolContext, route: RouteSpec): Promise<void> => {
  const family = route.destination.includes(':') || route.via?.includes(':') === true ? '-6' : '-4';
  await runTool(context, [
    'ip', family, 'route', 'replace', route.destination,
    ...(route.via === undefined ? [] : ['via', route.via]),
    'dev', route.device,
    ...(route.source === undefined ? [] : ['src', route.source]),
    ...(route.scopeLink === true ? ['scope', 'link'] : []),
  ]);
};

export const listRoutes = (context: ToolContext, family: 4 | 6): Promise<Route[]> =>
  ipJson(context, [`-${family}`, 'route', 'show'], z.array(routeSchema));

// ---- batches: one `ip` process for many commands -------------------------------

/**
 * Runs `ip -batch -` with one command per line: one process instead of one
 * per command. ip stops at the first failing line (earlier lines stay
 * applied) and names it in its error. Every token must be free of spaces and
 * quotes; callers build lines from names, addresses and numbers only.
 */
export const ipBatch = async (context: ToolContext, lines: readonly string[]): Promise<void> => {
  if (lines.length === 0) return;
  await runTool(context, ['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
};

/** An `ip` batch failed because something under one of its names already exists (a leftover). */
export const isAlreadyExists = (err: unknown): boolean => err instanceof Error && /File exists/i.test(err.message);

/**
 * Deletes links in one process (`ip -force -batch -`, which goes on past a
 * failing line); absent links are fine. Returns the links that could not be
 * deleted, with why: after any failure other than an absent link, each link
 * is tried on its own, so every error is attributed to its link.
 */
export const deleteLinksEach = async (context: ToolContext, names: readonly string[]): Promise<Map<string, Error>> => {
  const failures = new Map<string, Error>();
  if (names.length === 0) return failures;
  const result = await runTool(context, ['ip', '-force', '-batch', '-'], {
    input: names.map((n) => `link del dev ${n}`).join('\n') + '\n',
    allowFailure: true,
  });
  if (result.code === 0) return failures;
  const problems = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Command failed/.test(l) && !isMissingDevice(l));
  if (problems.length === 0) return failures;
  for (const name of names) {
    await deleteLink(context, name).catch((err: unknown) => failures.set(name, err instanceof Error ? err : new Error(String(err))));
  }
  return failures;
};

/** deleteLinksEach, throwing the first failure. */
export const deleteLinks = async (context: ToolContext, names: readonly string[]): Promise<void> => {
  const failures = await deleteLinksEach(context, names);
  const [first] = failures.values();
  if (first !== undefined) throw first;
};

/** Link, address and route commands as batch lines. */
export const batchLine = {
  /** A veth pair whose peer is born inside `peerNetnsPath`, with a fixed MAC address. */
  vethPair: (hostName: string, peerName: string, peerNetnsPath: string, mtu: number, peerMac: string): string =>
    `link add ${hostName} mtu ${mtu} type veth peer name ${peerName} mtu ${mtu} address ${peerMac} netns ${peerNetnsPath}`,
  ifb: (name: string, mtu: number): string => `link add ${name} mtu ${mtu} type ifb`,
  up: (name: string): string => `link set dev ${name} up`,
  alias: (name: string, alias: string): string => `link set dev ${name} alias ${alias}`,
  address: (device: string, cidr: string, options: AddressOptions = {}): string =>
    [`addr replace ${cidr} dev ${device}`, ...(options.noPrefixRoute === true ? ['noprefixroute'] : []), ...(options.noDad === true ? ['nodad'] : [])].join(' '),
  /** The family comes from the destination or the gateway (`default via <IPv6>` is an IPv6 route). */
  route: (route: RouteSpec): string =>
    [
      `route replace ${route.destination}`,
      ...(route.via === undefined ? [] : [`via ${route.via}`]),
      `dev ${route.device}`,
      ...(route.source === undefined ? [] : [`src ${route.source}`]),
      ...(route.scopeLink === true ? ['scope link'] : []),
    ].join(' '),
};

/** A token safe inside a batch line: no whitespace, quotes, backslashes or `#` (a comment in a batch). */
export const isBatchToken = (value: string): boolean => /^[\x21-\x7e]+$/.test(value) && !/["'\\#]/.test(value);
