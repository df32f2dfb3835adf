/**
 * `npm run bench [-- --quick] [-- --out <dir>]`: one run on a private harness
 * engine measures launch overhead, concurrency, exit and kill latency and the
 * executor's memory, then writes report.md and report.svg.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { startHarness, type Harness } from '../test/harness/index.js';
import { parseArgs, type BenchOptions } from './args.js';
import { DieEvents } from './engine-events.js';
import { BenchExecutorClient, benchTaskId, type BenchImage } from './executor-client.js';
import { startExecutorProcess, type ExecutorProcess } from './executor-process.js';
import { describeMachine, loadAverage, type MachineInfo } from './machine.js';
import { measureBurst } from './measure-burst.js';
import { measureConcurrent } from './measure-concurrent.js';
import { measureExits } from './measure-exit.js';
import { LONG_RUNNING, measureLaunches } from './measure-launch.js';
import { measureMemory, rssReadings } from './measure-memory.js';
import { measureNetworkedLaunches } from './measure-networked.js';
import { measurePooledLaunches, measurePooledNetworkedLaunches } from './measure-pooled.js';
import { preparePooledRuntime, type PooledRuntime } from './pooled-runtime.js';
import { rawTemplateFrom, type RawTemplate } from './raw-container.js';
import { renderMarkdown, resultsTable, verdicts } from './report.js';
import type { BenchReport } from './report-model.js';
import { buildPhaseRows, buildRows, burstP99Row, metadataThroughputShare, NETWORKED_PHASE_LABELS, type Samples } from './rows.js';
import { measureMetadataProxy } from './measure-metadata.js';
import { StatusWatch } from './status-watch.js';
import { renderSvg } from './svg.js';

const LAUNCH_RATIO_TARGET = 1.15;
const NETWORKED_LAUNCH_RATIO_TARGET = 1.5;
/** Issue 15: a burst's p99 to RUNNING no later than the raw burst's; a kill within 1.2× a raw stop+remove. */
const BURST_P99_RATIO_TARGET = 1.0;
const KILL_RATIO_TARGET = 1.2;
const startedMs = Date.now();
const loadAtStart = loadAverage();
const progress = (what: string): void => {
  process.stderr.write(`[bench ${((Date.now() - startedMs) / 1000).toFixed(1)}s] ${what}\n`);
};

/** One executor launch whose container is inspected, so the raw side creates the same thing. */
const prepareRawTemplate = async (ex: BenchExecutorClient, docker: Docker): Promise<RawTemplate> => {
  const taskId = benchTaskId('template');
  await ex.launchUntilRunning(taskId, { command: LONG_RUNNING });
  const template = await rawTemplateFrom(docker, taskId);
  await ex.killUntilKilled(taskId);
  return template;
};

interface Session {
  readonly proc: ExecutorProcess;
  readonly watch: StatusWatch;
  readonly deaths: DieEvents;
  readonly ex: BenchExecutorClient;
}

const measureAll = async (opts: BenchOptions, session: Session, docker: Docker, h: Harness, pooledRuntime: PooledRuntime): Promise<Samples> => {
  const { proc, ex, deaths } = session;
  // First, so the idle reading is of an executor that has launched nothing yet.
  progress(`memory: idle, then ${opts.memoryTasks} running tasks`);
  const memory = await measureMemory(proc, ex, opts.memoryTasks);
  const template = await prepareRawTemplate(ex, docker);
  progress(`sequential launches: ${opts.launches} each (+${opts.warmups} warm-up), alternating with raw, and raw without engine network`);
  const onProgress = (done: number, total: number): void => {
    if (done % 5 === 0 || done === total) progress(`  ${done}/${total}`);
  };
  const launches = await measureLaunches(ex, docker, template, opts, onProgress, true);
  progress(`networked launches (local driver): ${opts.launches} each (+${opts.warmups} warm-up, which imports the pause image), alternating`);
  const networked = await measureNetworkedLaunches(
    opts,
    { dockerHost: h.dockerHost, executorId: `bench-net-${h.runId}`, docker, template, image: ex.image },
    onProgress,
    progress,
  );
  progress(`pooled launches (warm sandbox pool, network driver none): ${opts.launches} each (+${opts.warmups} warm-up), alternating`);
  const pooledRun = { dockerHost: h.dockerHost, docker, template, image: ex.image, runtime: pooledRuntime };
  const pooled = await measurePooledLaunches(opts, { ...pooledRun, executorId: `bench-pool-${h.runId}` }, onProgress);
  progress(`pooled networked launches (warm sandbox pool, local driver): ${opts.launches} each (+${opts.warmups} warm-up), alternating`);
  const pooledNetworked = await measurePooledNetworkedLaunches(opts, { ...pooledRun, executorId: `bench-pool-net-${h.runId}` }, onProgress);
  progress(`${opts.concurrency} concurrent launches, ${opts.concurrentRounds} round(s) each`);
  const rounds = { concurrency: opts.concurrency, rounds: opts.concurrentRounds };
  const concurrent = await measureConcurrent(ex, docker, template, rounds, () => proc.cpuMs());
  progress(`${opts.burstSize} launches at once against ${opts.burstSize} raw create+start at once, ${opts.burstRounds} round(s) each`);
  const burst = await measureBurst(ex, proc, docker, template, { size: opts.burstSize, rounds: opts.burstRounds });
  const exitCount = opts.quick ? 6 : 20;
  progress(`exit latency: ${exitCount} each`);
  const exits = await measureExits(ex, docker, template, deaths, exitCount);
  progress('memory: idle again, after the run');
  const idleAfterRunMiB = await rssReadings(proc);
  const metadataRounds = opts.quick ? 2 : 4;
  progress(`metadata proxy vs plain node:http: ${metadataRounds} rounds`);
  const metadata = await measureMetadataProxy({ rounds: metadataRounds, durationMs: opts.quick ? 1500 : 4000, tasks: 50, concurrency: 32 });
  return { launches, networked, pooled, pooledNetworked, concurrent, concurrency: opts.concurrency, exits, memory, idleAfterRunMiB, metadata, burst };
};

/** Everything the bench started is still in the engine? Then the numbers came with a leak. */
const checkNothingLeft = async (docker: Docker): Promise<void> => {
  const left = await docker.listContainers({ all: true });
  if (left.length > 0) throw new Error(`the bench left ${left.length} containers behind: ${left.map((c) => c.Names.join(',')).join(' ')}`);
};

const runOnHarness = async (opts: BenchOptions, h: Harness, pooledRuntime: PooledRuntime): Promise<{ samples: Samples; machine: MachineInfo }> => {
  const docker = new Docker({ socketPath: h.dockerSocket });
  const image: BenchImage = { repository: h.images.busyboxRepo, digest: h.images.busyboxDigest };
  await h.docker(['pull', `${image.repository}@${image.digest}`]);
  const machine = await describeMachine(docker);
  const workDir = mkdtempSync(join(tmpdir(), 'titus-bench-'));
  let session: Session | undefined;
  try {
    const proc = await startExecutorProcess(workDir, h.dockerHost, `bench-${h.runId}`);
    const watch = await StatusWatch.open(proc.client);
    const deaths = await DieEvents.open(docker);
    session = { proc, watch, deaths, ex: new BenchExecutorClient(proc.client, watch, image) };
    progress(`executor pid ${proc.pid} serving on ${proc.socket}`);
    const samples = await measureAll(opts, session, docker, h, pooledRuntime);
    await checkNothingLeft(docker);
    return { samples, machine };
  } finally {
    session?.watch.close();
    session?.deaths.close();
    await session?.proc.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
};

const writeReport = (opts: BenchOptions, samples: Samples, machine: MachineInfo): BenchReport => {
  const report: BenchReport = {
    command: `npm run bench${opts.quick ? ' -- --quick' : ''}`,
    startedAt: new Date(startedMs).toISOString(),
    durationS: (Date.now() - startedMs) / 1000,
    machine,
    load: { start: loadAtStart, end: loadAverage() },
    rows: buildRows(samples),
    phases: buildPhaseRows(samples.launches),
    networkedPhases: buildPhaseRows(samples.networked, NETWORKED_PHASE_LABELS),
    burstPhases: buildPhaseRows(samples.burst),
    launchRatioTarget: LAUNCH_RATIO_TARGET,
    metadataThroughputShare: metadataThroughputShare(samples.metadata),
    networkedLaunchRatioTarget: NETWORKED_LAUNCH_RATIO_TARGET,
    burst: { row: burstP99Row(samples.burst.size), p99RatioTarget: BURST_P99_RATIO_TARGET },
    killRatioTarget: KILL_RATIO_TARGET,
  };
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, 'report.md'), renderMarkdown(report));
  writeFileSync(join(opts.outDir, 'report.svg'), renderSvg(report.rows));
  return report;
};

const main = async (): Promise<void> => {
  const opts = parseArgs(process.argv.slice(2));
  progress(`starting harness engine${opts.quick ? ' (quick run)' : ''}`);
  // The pooled executor's hook runtime is registered with the engine from the start (pooled-runtime.ts).
  const pooledRuntime = preparePooledRuntime();
  const h = await startHarness({ runtimes: pooledRuntime.runtimes });
  let result: { samples: Samples; machine: MachineInfo };
  try {
    result = await runOnHarness(opts, h, pooledRuntime);
  } finally {
    progress('stopping harness');
    await h.stop();
    pooledRuntime.remove();
  }
  const report = writeReport(opts, result.samples, result.machine);
  console.log(resultsTable(report.rows));
  console.log(`\n${verdicts(report).join('\n')}`);
  console.log(`\nload average (1/5/15 min): ${report.load.start} at the start, ${report.load.end} at the end`);
  const phaseLines = (rows: BenchReport['phases']): string =>
    rows.map((p) => `  ${p.phase}: median ${p.summary.median.toFixed(1)} ms, p90 ${p.summary.p90.toFixed(1)} ms`).join('\n');
  console.log(`\nphases:\n${phaseLines(report.phases)}`);
  console.log(`\nphases, networked:\n${phaseLines(report.networkedPhases)}`);
  console.log(`\nphases, ${result.samples.burst.size} at once:\n${phaseLines(report.burstPhases)}`);
  console.log(`\nwrote ${join(opts.outDir, 'report.md')} and report.svg in ${report.durationS.toFixed(0)} s`);
};

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
