/** The results as a Markdown report (also printed to stdout). */
import { ratioOf, type BenchReport, type ResultRow } from './report-model.js';
import type { Summary } from './stats.js';

const fmt = (v: number, unit: ResultRow['unit']): string => (unit === 'MiB' ? v.toFixed(1) : v < 10 ? v.toFixed(2) : v.toFixed(1));

const cell = (s: Summary | undefined, unit: ResultRow['unit']): string =>
  s === undefined ? '—' : `${fmt(s.median, unit)} ${unit} [${fmt(s.p10, unit)}–${fmt(s.p90, unit)}]`;

const count = (row: ResultRow): string => {
  const ns = [row.executor?.n, row.raw?.n].filter((n): n is number => n !== undefined);
  if (ns.length === 0) return '—';
  return ns.every((n) => n === ns[0]) ? String(ns[0]) : ns.join(' / ');
};

const resultLine = (row: ResultRow): string => {
  const ratio = ratioOf(row);
  return `| ${row.metric} | ${cell(row.executor, row.unit)} | ${cell(row.raw, row.unit)} | ${ratio === undefined ? '—' : ratio.toFixed(3)} | ${count(row)} | ${row.note ?? ''} |`;
};

export const resultsTable = (rows: readonly ResultRow[]): string =>
  [
    '| Metric | Executor median [p10–p90] | Raw dockerode median [p10–p90] | Ratio | n | Notes |',
    '|---|---|---|---|---|---|',
    ...rows.map(resultLine),
  ].join('\n');

const phaseTable = (report: BenchReport): string =>
  [
    '| Phase (sequential launches) | Median | p90 |',
    '|---|---|---|',
    ...report.phases.map((p) => `| ${p.phase} | ${fmt(p.summary.median, 'ms')} ms | ${fmt(p.summary.p90, 'ms')} ms |`),
  ].join('\n');

const verdict = (report: BenchReport): string => {
  const launch = report.rows[0];
  const ratio = launch === undefined ? undefined : ratioOf(launch);
  if (ratio === undefined) return 'Launch overhead ratio: not available.';
  const ok = ratio <= report.launchRatioTarget;
  return `Launch overhead ratio ${ratio.toFixed(3)} (target ≤ ${report.launchRatioTarget}): **${ok ? 'met' : 'NOT met'}**.`;
};

export const renderMarkdown = (report: BenchReport): string => {
  const m = report.machine;
  return `# titus-executor benchmark

Command: \`${report.command}\` — started ${report.startedAt}, took ${report.durationS.toFixed(0)} s.

Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, kernel ${m.kernel}, Node ${m.node}, Docker ${m.docker}
(a private harness dockerd and loopback registry, busybox images built locally).
Load average (1 / 5 / 15 min): ${report.load.start} at the start, ${report.load.end} at the end.

${resultsTable(report.rows)}

${verdict(report)}

Spreads are p10–p90 (interpolated). The executor runs as its own process (\`titus-executor serve\`, log level info);
the raw baseline is dockerode in the bench process, creating containers with the Env, Labels and HostConfig copied
from a container the executor made. Launches use a digest-pinned image already in the engine, so neither side pulls.

## Where an executor launch spends its time

From the executor's own update timestamps (ms resolution), medians over the recorded sequential launches.

${phaseTable(report)}

![chart](report.svg)
`;
};
