/** The results as a Markdown report (also printed to stdout). */
import { ratioOf, type BenchReport, type ResultRow } from './report-model.js';
import { KILL_ROW, LAUNCH_ROW, METADATA_THROUGHPUT_TARGET, NETWORKED_LAUNCH_ROW } from './rows.js';
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

const phaseTable = (title: string, phases: BenchReport['phases']): string =>
  [
    `| ${title} | Median | p90 |`,
    '|---|---|---|',
    ...phases.map((p) => `| ${p.phase} | ${fmt(p.summary.median, 'ms')} ms | ${fmt(p.summary.p90, 'ms')} ms |`),
  ].join('\n');

const verdict = (report: BenchReport, metric: string, label: string, target: number): string => {
  const row = report.rows.find((r) => r.metric === metric);
  const ratio = row === undefined ? undefined : ratioOf(row);
  if (ratio === undefined) return `${label} ratio: not available.`;
  return `${label} ratio ${ratio.toFixed(3)} (target ≤ ${target}): **${ratio <= target ? 'met' : 'NOT met'}**.`;
};

/** One line per launch target: the plain launch and the networked launch. */
export const verdicts = (report: BenchReport): string[] => [
  verdict(report, LAUNCH_ROW, 'Launch overhead', report.launchRatioTarget),
  verdict(report, NETWORKED_LAUNCH_ROW, 'Networked launch overhead', report.networkedLaunchRatioTarget),
  verdict(report, report.burst.row, 'Burst p99', report.burst.p99RatioTarget),
  verdict(report, KILL_ROW, 'Kill latency', report.killRatioTarget),
  `Metadata proxy throughput ${(100 * report.metadataThroughputShare).toFixed(0)}% of the plain server's (target ≥ ${100 * METADATA_THROUGHPUT_TARGET}%): **${report.metadataThroughputShare >= METADATA_THROUGHPUT_TARGET ? 'met' : 'NOT met'}**.`,
];

export const renderMarkdown = (report: BenchReport): string => {
  const m = report.machine;
  return `# titus-executor benchmark

Command: \`${report.command}\` — started ${report.startedAt}, took ${report.durationS.toFixed(0)} s.

Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, kernel ${m.kernel}, Node ${m.node}, Docker ${m.docker}
(a private harness dockerd and loopback registry, busybox images built locally).
Load average (1 / 5 / 15 min): ${report.load.start} at the start, ${report.load.end} at the end.

${resultsTable(report.rows)}

${verdicts(report).join('\n\n')}

Spreads are p10–p90 (interpolated). The executor runs as its own process (\`titus-executor serve\`, log level info);
the raw baseline is dockerode in the bench process, creating containers with the Env, Labels and HostConfig copied
from a container the executor made. Launches use a digest-pinned image already in the engine, so neither side pulls.
The networked row runs a second executor process with \`network.driver: local\` whose host side lives in a network
namespace the bench creates and deletes; its raw side is the same network-mode-none create+start as the plain row.

## Where an executor launch spends its time

From the executor's own update timestamps (ms resolution), medians over the recorded sequential launches.

${phaseTable('Phase (sequential launches)', report.phases)}

${phaseTable('Phase (networked launches, local driver)', report.networkedPhases)}

${phaseTable('Phase (burst launches, every task of every round)', report.burstPhases)}

![chart](report.svg)
`;
};
