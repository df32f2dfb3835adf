/**
 * The namespace that stands in for the host while the networked executor
 * runs (`network.local.hostNetns`): every veth, IFB, qdisc and nft table the
 * local driver makes lands in it, never in the machine's own namespace.
 * Deleting it removes whatever a failed run left; it is deleted on every exit
 * path, including SIGINT/SIGTERM/SIGHUP and a crash of the bench itself.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { runCommand } from '../src/common/command-runner.js';

export interface BenchNetns {
  readonly name: string;
  /** What the driver left in the namespace: links other than lo, nft tables, qdiscs other than noqueue. */
  leftovers(): Promise<string[]>;
  /** Deletes the namespace (idempotent) and checks it is gone. */
  remove(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const inNs = async (name: string, argv: readonly string[]): Promise<string> =>
  (await runCommand(['ip', 'netns', 'exec', name, ...argv], { timeoutMs: 15_000 })).stdout;

const namespaces = async (): Promise<string[]> =>
  (await runCommand(['ip', 'netns', 'list'], { timeoutMs: 15_000 })).stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((n) => n !== '');

export const createBenchNetns = async (): Promise<BenchNetns> => {
  const name = `titus-bench-${randomBytes(4).toString('hex')}`;
  let removed = false;
  const removeSync = (): void => {
    if (removed) return;
    removed = true;
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // best effort: the process is going away
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    removeSync();
    uninstall();
    // Our listener suppressed the default action; re-raise so the process still dies of the signal.
    process.kill(process.pid, signal);
  };
  const uninstall = (): void => {
    process.off('exit', removeSync);
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  process.on('exit', removeSync);
  for (const s of SIGNALS) process.on(s, onSignal);

  try {
    await runCommand(['ip', 'netns', 'add', name], { timeoutMs: 15_000 });
    // Like a host that routes only for the tasks: lo up, global forwarding off (the driver forwards per veth).
    await inNs(name, ['ip', 'link', 'set', 'lo', 'up']);
    await inNs(name, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
  } catch (err) {
    removeSync();
    uninstall();
    throw err;
  }

  return {
    name,
    leftovers: async () => {
      const links = (JSON.parse(await inNs(name, ['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>)
        .map((l) => l.ifname)
        .filter((n) => n !== 'lo');
      const tables = JSON.parse(await inNs(name, ['nft', '-j', 'list', 'tables'])) as { nftables: Array<{ table?: { family: string; name: string } }> };
      const qdiscs = (JSON.parse(await inNs(name, ['tc', '-j', 'qdisc', 'show'])) as Array<{ dev: string; kind: string }>).filter(
        (q) => q.kind !== 'noqueue',
      );
      return [
        ...links.map((l) => `link ${l}`),
        ...tables.nftables.flatMap((e) => (e.table === undefined ? [] : [`nft table ${e.table.family} ${e.table.name}`])),
        ...qdiscs.map((q) => `qdisc ${q.kind} on ${q.dev}`),
      ];
    },
    remove: async () => {
      removeSync();
      uninstall();
      if ((await namespaces()).includes(name)) throw new Error(`network namespace ${name} could not be deleted`);
    },
  };
};
