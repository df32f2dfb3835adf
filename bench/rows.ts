/** Turns the raw samples into the report's rows; the wording of each row says exactly what was timed. */
import { BURST_SETTLE_MS, type BurstSamples } from './measure-burst.js';
import type { ConcurrentSamples } from './measure-concurrent.js';
import type { ExitSamples } from './measure-exit.js';
import type { LaunchSamples } from './measure-launch.js';
import type { MemorySamples } from './measure-memory.js';
import type { MetadataSamples } from './measure-metadata.js';
import { BENCH_POOL_SIZE, type PooledSamples } from './measure-pooled.js';
import { PHASES, type Phase } from './phases.js';
import type { PhaseRow, ResultRow } from './report-model.js';
import { summarize } from './stats.js';

export interface Samples {
  readonly launches: LaunchSamples;
  /** Sequential launches of the executor with the local network driver, against the same raw create+start. */
  readonly networked: LaunchSamples;
  /** Sequential launches of an executor with the warm sandbox pool (network driver none), against the same raw create+start. */
  readonly pooled?: PooledSamples;
  /** The same with the local network driver, against the same raw create+start. */
  readonly pooledNetworked?: PooledSamples;
  readonly concurrent: ConcurrentSamples;
  readonly concurrency: number;
  readonly exits: ExitSamples;
  readonly memory: MemorySamples;
  /** RSS with no task left, after every other measurement (its garbage has been collected at least once). */
  readonly idleAfterRunMiB: number[];
  readonly metadata: MetadataSamples;
  readonly burst: BurstSamples;
}

export const METADATA_PROXY_ROW = 'Metadata proxy p99, cached credentials (vs plain node:http)';
/** Issue target: the proxy serves at least half the requests per second of a bare server. */
export const METADATA_THROUGHPUT_TARGET = 0.5;

const median = (xs: readonly number[]): number => summarize(xs).median;

/** Proxy requests per second as a share of the plain server's, medians over the rounds. */
export const metadataThroughputShare = (m: MetadataSamples): number => median(m.proxy.map((r) => r.rps)) / median(m.plain.map((r) => r.rps));

const metadataNote = (m: MetadataSamples): string => {
  const proxyRps = median(m.proxy.map((r) => r.rps));
  const plainRps = median(m.plain.map((r) => r.rps));
  return (
    `GET iam/security-credentials/<role> with an IMDSv2 token, ${m.concurrency} in flight for ${m.durationMs / 1000} s per round, ${m.tasks} tasks on their own loopback source addresses, client in its own process; ` +
    `throughput: proxy ${proxyRps.toFixed(0)} req/s, plain node:http returning the same bytes ${plainRps.toFixed(0)} req/s = ` +
    `${(100 * metadataThroughputShare(m)).toFixed(0)}% of the ceiling`
  );
};
export const LAUNCH_ROW = 'Launch overhead (sequential)';
export const KILL_ROW = 'Kill latency';
export const burstP99Row = (size: number): string => `${size} launches at once: p99 to RUNNING`;

/** The burst's rows: each task's time (median = p50), each round's p99, and the executor's memory at that moment. */
const burstRows = (b: BurstSamples): ResultRow[] => [
  {
    metric: `${b.size} launches at once: each task to RUNNING`,
    unit: 'ms',
    executor: summarize(b.executorMs),
    raw: summarize(b.rawMs),
    note: `burst start → each task's RUNNING received (executor) / its start() resolved (raw), ${b.size} issued together, every task of ${b.executorP99Ms.length} round(s); the median is the p50; all ${b.size} reached RUNNING in every round`,
  },
  {
    metric: burstP99Row(b.size),
    unit: 'ms',
    executor: summarize(b.executorP99Ms),
    raw: summarize(b.rawP99Ms),
    note:
      `the 99th percentile of the row above, one sample per round (the ratio is p99 / raw p99); each burst starts ${BURST_SETTLE_MS / 1000} s after the engine has no container left; ` +
      `rounds: executor ${b.executorP99Ms.map((x) => x.toFixed(0)).join(', ')} ms, raw ${b.rawP99Ms.map((x) => x.toFixed(0)).join(', ')} ms`,
  },
  {
    metric: `${b.size} launches at once: p99, raw without engine network`,
    unit: 'ms',
    executor: summarize(b.executorP99Ms),
    raw: summarize(b.rawNoNetworkP99Ms),
    note:
      `the executor's p99s of the row above against a third burst per round that asks the engine for NetworkDisabled, as the executor does (raw-container.ts): ` +
      `the executor's own cost in a burst; no target; rounds: ${b.rawNoNetworkP99Ms.map((x) => x.toFixed(0)).join(', ')} ms`,
  },
  {
    metric: `Executor RSS, ${b.size} launched at once`,
    unit: 'MiB',
    executor: summarize(b.rssAtRunningMiB),
    note: `VmRSS the moment the last of the ${b.size} was RUNNING, one reading per round; peak RSS (VmHWM) over the whole bench ${b.peakRssMiB.toFixed(1)} MiB`,
  },
];
export const NETWORKED_LAUNCH_ROW = 'Launch overhead (networked, local driver)';
export const POOLED_LAUNCH_ROW = 'Launch overhead (sequential, pooled sandbox)';
export const POOLED_NETWORKED_LAUNCH_ROW = 'Launch overhead (networked, local driver, pooled sandbox)';
/** Issue 15: with the pool, launch → RUNNING at most this share of a raw create+start; networked (local) at most 1.0. */
export const POOLED_LAUNCH_RATIO_TARGET = 0.8;
export const POOLED_NETWORKED_LAUNCH_RATIO_TARGET = 1.0;

/** The pooled row, beside the unpooled one. */
const pooledRows = (s: Samples): ResultRow[] =>
  s.pooled === undefined
    ? []
    : [
        {
          metric: POOLED_LAUNCH_ROW,
          unit: 'ms' as const,
          executor: summarize(s.pooled.launches.executorLaunchMs),
          raw: summarize(s.pooled.launches.rawLaunchMs),
          note:
            `executor with sandboxPool.size ${BENCH_POOL_SIZE} (network driver none): the task joins a started pause sandbox and gets its own hostname from the poststart hook (runtime: a sh stand-in for oci-add-hooks); ` +
            `LaunchTask issued → RUNNING; raw: the plain row's network-mode-none create+start, interleaved; target ≤ ${POOLED_LAUNCH_RATIO_TARGET}; ${s.pooled.poolLine}`,
        },
      ];

/** The pooled networked row, beside the unpooled networked one. */
const pooledNetworkedRows = (s: Samples): ResultRow[] =>
  s.pooledNetworked === undefined
    ? []
    : [
        {
          metric: POOLED_NETWORKED_LAUNCH_ROW,
          unit: 'ms' as const,
          executor: summarize(s.pooledNetworked.launches.executorLaunchMs),
          raw: summarize(s.pooledNetworked.launches.rawLaunchMs),
          note:
            `as the networked row, with sandboxPool.size ${BENCH_POOL_SIZE}: the task takes a started sandbox, then the driver attaches it; ` +
            `raw: the plain row's network-mode-none create+start, interleaved; target ≤ ${POOLED_NETWORKED_LAUNCH_RATIO_TARGET}; ${s.pooledNetworked.poolLine}`,
        },
      ];

/** In a networked launch the span before `creating container` also holds the whole network setup. */
export const NETWORKED_PHASE_LABELS: Partial<Record<Phase, string>> = {
  'image check (inspect) → creating': 'image check, then network setup (sandbox, attach) → creating',
};

/** The difference of medians can be negative when a GC ran between the two states; then it is only noise. */
const memoryNote = (m: MemorySamples): string => {
  const delta = summarize(m.loadedMiB).median - summarize(m.idleMiB).median;
  const growth =
    delta > 0 ? `+${delta.toFixed(1)} MiB over idle (≈ ${((delta * 1024) / m.tasks).toFixed(0)} KiB per task)` : `no growth over idle beyond GC noise (${delta.toFixed(1)} MiB)`;
  return `${growth}; peak RSS (VmHWM) ${m.peakMiB.toFixed(1)} MiB; ${m.tasks} busybox sleeps at 16 MiB each, all RUNNING after ${(m.loadLaunchMs / 1000).toFixed(1)} s; VmRSS of the executor process, ${m.loadedMiB.length} readings over ${((m.loadedMiB.length * 250) / 1000).toFixed(1)} s`;
};

/** The sequential launches and kills against raw asking for no engine network set-up, as the executor does: its own overhead. */
const withoutEngineNetworkRows = (l: LaunchSamples): ResultRow[] =>
  l.rawNoNetworkLaunchMs === undefined || l.rawNoNetworkKillMs === undefined
    ? []
    : [
        {
          metric: 'Launch overhead (sequential), raw without engine network',
          unit: 'ms',
          executor: summarize(l.executorLaunchMs),
          raw: summarize(l.rawNoNetworkLaunchMs),
          note: "the row above's executor launches; raw: the same create+start asking for NetworkDisabled (no libnetwork sandbox, no setkey hook), interleaved; the executor's own overhead; no target",
        },
        {
          metric: 'Kill latency, raw without engine network',
          unit: 'ms',
          executor: summarize(l.executorKillMs),
          raw: summarize(l.rawNoNetworkKillMs),
          note: `the ${KILL_ROW} row's executor kills; raw: stop(t=10) + remove of those NetworkDisabled containers; no target`,
        },
      ];

export const buildRows = (s: Samples): ResultRow[] => [
  {
    metric: LAUNCH_ROW,
    unit: 'ms',
    executor: summarize(s.launches.executorLaunchMs),
    raw: summarize(s.launches.rawLaunchMs),
    note:
      'executor: LaunchTask issued → RUNNING received on WatchTaskStatus; raw: createContainer called → start() resolved, network mode none as `docker run --network none` asks; ' +
      'the executor asks for NetworkDisabled instead (the next row); pre-pulled image by digest',
  },
  ...withoutEngineNetworkRows(s.launches),
  ...pooledRows(s),
  {
    metric: NETWORKED_LAUNCH_ROW,
    unit: 'ms',
    executor: summarize(s.networked.executorLaunchMs),
    raw: summarize(s.networked.rawLaunchMs),
    note:
      'executor with network.driver local (per-task sandbox, veth pair, HTB both ways at 128 Mbps, nft table; host side in a bench namespace): LaunchTask issued → RUNNING; ' +
      `raw: the plain row's network-mode-none create+start, interleaved with these launches; networked kill → KILLED median ${summarize(s.networked.executorKillMs).median.toFixed(1)} ms`,
  },
  ...pooledNetworkedRows(s),
  {
    metric: `${s.concurrency} concurrent launches`,
    unit: 'ms',
    executor: summarize(s.concurrent.executorMs),
    raw: summarize(s.concurrent.rawMs),
    note: `time until all ${s.concurrency} are RUNNING (executor) / started (raw), one sample per round`,
  },
  ...burstRows(s.burst),
  {
    metric: 'Exit → terminal status',
    unit: 'ms',
    executor: summarize(s.exits.executorMs),
    raw: summarize(s.exits.rawMs),
    note: 'from the engine die event (timeNano); executor: FINISHED received; raw: wait() resolved and container removed',
  },
  {
    metric: KILL_ROW,
    unit: 'ms',
    executor: summarize(s.launches.executorKillMs),
    raw: summarize(s.launches.rawKillMs),
    note: 'executor: KillTask issued → KILLED received; raw: stop(t=10) + remove; the task exits on SIGTERM',
  },
  {
    metric: 'Executor CPU per task',
    unit: 'ms',
    executor: summarize(s.concurrent.executorCpuMsPerTask),
    note: `user+system CPU of the executor process (/proc/<pid>/stat) per task, launch to KILLED, ${s.concurrency} at a time; one sample per round; no raw baseline`,
  },
  {
    metric: 'Executor RSS, 0 tasks (fresh)',
    unit: 'MiB',
    executor: summarize(s.memory.idleMiB),
    note: `idle after start-up, before any launch (start-up garbage not yet collected), ${s.memory.idleMiB.length} readings; no raw baseline`,
  },
  { metric: `Executor RSS, ${s.memory.tasks} running tasks`, unit: 'MiB', executor: summarize(s.memory.loadedMiB), note: memoryNote(s.memory) },
  {
    metric: 'Executor RSS, 0 tasks (after the run)',
    unit: 'MiB',
    executor: summarize(s.idleAfterRunMiB),
    note: `idle again after every measurement above, ${s.idleAfterRunMiB.length} readings`,
  },
  {
    metric: METADATA_PROXY_ROW,
    unit: 'ms',
    executor: summarize(s.metadata.proxy.map((r) => r.p99Ms)),
    raw: summarize(s.metadata.plain.map((r) => r.p99Ms)),
    note: metadataNote(s.metadata),
  },
];

export const buildPhaseRows = (launches: Pick<LaunchSamples, 'phases'>, labels: Partial<Record<Phase, string>> = {}): PhaseRow[] =>
  PHASES.map((phase) => ({ phase: labels[phase] ?? phase, summary: summarize(launches.phases.map((p) => p[phase])) }));
