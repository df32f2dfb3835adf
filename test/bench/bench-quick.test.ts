/**
 * The benchmark's quick mode end to end: it runs on its own harness engine,
 * exits 0 within 3 minutes and writes a report with every row and a
 * well-formed chart. Figures are not checked; only that they are there.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { runCommand } from '../../src/common/command-runner.js';

const BENCH = resolve('dist/bench/bench.js');
const LIMIT_MS = 180_000;

const EXPECTED_ROWS = [
  'Launch overhead (sequential)',
  'Launch overhead (networked, local driver)',
  '50 concurrent launches',
  'Exit → terminal status',
  'Kill latency',
  'Executor CPU per task',
  'Executor RSS, 0 tasks (fresh)',
  'Executor RSS, 100 running tasks',
  'Executor RSS, 0 tasks (after the run)',
  'Metadata proxy p99, cached credentials (vs plain node:http)',
];

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
  readonly elapsedMs: number;
}

/** Runs the bench, killing it at the limit; output is kept for the failure message. */
const runBench = (outDir: string): Promise<RunResult> =>
  new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BENCH, '--quick', '--out', outDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), LIMIT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, output, elapsedMs: Date.now() - started });
    });
  });

t.test('npm run bench -- --quick writes a complete report', { skip: existsSync(BENCH) ? false : `${BENCH} is missing: run npm run build first` }, async (t) => {
  t.setTimeout(LIMIT_MS + 60_000);
  const outDir = mkdtempSync(join(tmpdir(), 'titus-bench-test-'));
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
  const run = await runBench(outDir);
  t.equal(run.code, 0, 'the bench exits 0', { signal: run.signal, output: run.output.slice(-4000) });
  t.ok(run.elapsedMs < LIMIT_MS, `finished within 3 minutes (${(run.elapsedMs / 1000).toFixed(0)} s)`);

  const mdPath = join(outDir, 'report.md');
  t.ok(existsSync(mdPath), 'report.md written');
  const md = existsSync(mdPath) ? readFileSync(mdPath, 'utf8') : '';
  for (const row of EXPECTED_ROWS) t.match(md, `| ${row}`, `report has the "${row}" row`);
  t.match(md, /Metadata proxy throughput \d+% of the plain server's \(target ≥ 50%\)/, 'the proxy row is measured against its ceiling');
  t.match(md, /\| \d+ launches at once: p99 to RUNNING \| [\d.]+ ms .*\| [\d.]+ ms .*\| [\d.]+ \|/, 'the burst row, against a raw burst');
  t.match(md, /Burst p99 ratio [\d.]+ \(target ≤ 1\)/, 'the burst target line');
  t.match(md, /Kill latency ratio [\d.]+ \(target ≤ 1\.2\)/, 'the kill target line');
  t.match(md, /Machine: \d+ CPUs/, 'machine info');
  t.match(md, /Docker \d+\./, 'docker version');
  t.match(md, /\| Launch overhead \(sequential\) \| [\d.]+ ms \[[\d.]+–[\d.]+\] \| [\d.]+ ms \[[\d.]+–[\d.]+\] \| [\d.]+ \| \d+ \|/, 'launch row has medians, spreads, ratio, n');
  t.match(
    md,
    /\| Launch overhead \(networked, local driver\) \| [\d.]+ ms \[[\d.]+–[\d.]+\] \| [\d.]+ ms \[[\d.]+–[\d.]+\] \| [\d.]+ \| \d+ \|/,
    'networked launch row has medians, spreads, ratio, n',
  );
  t.match(md, /Launch overhead ratio [\d.]+ \(target ≤ 1\.15\)/, 'the plain launch target line');
  t.match(md, /Networked launch overhead ratio [\d.]+ \(target ≤ 1\.5\)/, 'the networked launch target line');
  t.match(md, /Phase \(networked launches, local driver\)/, 'a phase table for networked launches');
  const netns = /host namespace (titus-bench-[0-9a-f]{8})/.exec(run.output)?.[1];
  t.ok(netns, 'the bench names the namespace it created for the networked executor');
  const namespaces = (await runCommand(['ip', 'netns', 'list'])).stdout;
  t.notMatch(namespaces, netns ?? 'titus-bench-unnamed', 'and deleted it');

  const svgPath = join(outDir, 'report.svg');
  t.ok(existsSync(svgPath), 'report.svg written');
  const svg = existsSync(svgPath) ? readFileSync(svgPath, 'utf8') : '';
  t.equal(XMLValidator.validate(svg), true, 'the SVG is well-formed XML');
  const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as Record<string, unknown>;
  const root = doc['svg'] as Record<string, unknown> | undefined;
  t.ok(root, 'root element is svg');
  t.equal(root?.['@_xmlns'], 'http://www.w3.org/2000/svg', 'in the SVG namespace');
  const rects = svg.match(/<rect\b/g) ?? [];
  t.ok(rects.length >= 1, `has bars (${rects.length} rect elements)`);
});
