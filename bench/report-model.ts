import type { MachineInfo } from './machine.js';
import type { Summary } from './stats.js';

/** One line of the results table. A side without a summary was not measured (or has no baseline). */
export interface ResultRow {
  readonly metric: string;
  readonly unit: 'ms' | 'MiB';
  readonly executor?: Summary;
  readonly raw?: Summary;
  readonly note?: string;
}

export interface PhaseRow {
  readonly phase: string;
  readonly summary: Summary;
}

export interface BenchReport {
  readonly command: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly machine: MachineInfo;
  /** Load averages when the run started and ended. */
  readonly load: { readonly start: string; readonly end: string };
  readonly rows: readonly ResultRow[];
  readonly phases: readonly PhaseRow[];
  readonly networkedPhases: readonly PhaseRow[];
  readonly burstPhases: readonly PhaseRow[];
  readonly launchRatioTarget: number;
  /** Proxy requests per second over the plain server's. */
  readonly metadataThroughputShare: number;
  readonly networkedLaunchRatioTarget: number;
  /** The burst's p99 row (its name holds the burst size) and its target ratio. */
  readonly burst: { readonly row: string; readonly p99RatioTarget: number };
  readonly killRatioTarget: number;
}

/** executor median / raw median, when both sides were measured. */
export const ratioOf = (row: ResultRow): number | undefined =>
  row.executor !== undefined && row.raw !== undefined && row.raw.median > 0 ? row.executor.median / row.raw.median : undefined;
