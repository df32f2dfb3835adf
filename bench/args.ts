import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchOptions {
  readonly quick: boolean;
  /** Where report.md and report.svg go (default: the bench/ source folder). */
  readonly outDir: string;
  /** Sequential launches of each kind (executor and raw), after the warm-up. */
  readonly launches: number;
  readonly warmups: number;
  /** Launches in flight at once in the concurrency test, and how many rounds of it. */
  readonly concurrency: number;
  readonly concurrentRounds: number;
  /** Running tasks for the loaded memory reading. */
  readonly memoryTasks: number;
  /** Launches issued together in the burst row (a node's pod density), and rounds of it. */
  readonly burstSize: number;
  readonly burstRounds: number;
}

const USAGE = 'usage: node dist/bench/bench.js [--quick] [--out <dir>]';

/** dist/bench/bench.js → <repo>/bench, so the report lands next to the bench sources. */
const defaultOutDir = (): string => resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench');

export const parseArgs = (argv: readonly string[]): BenchOptions => {
  let quick = false;
  let outDir = defaultOutDir();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--out') {
      const dir = argv[++i];
      if (dir === undefined || dir === '') throw new Error(`--out needs a directory\n${USAGE}`);
      outDir = resolve(dir);
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${String(arg)}\n${USAGE}`);
  }
  return {
    quick,
    outDir,
    launches: quick ? 8 : 30,
    warmups: quick ? 1 : 3,
    concurrency: 50,
    concurrentRounds: quick ? 1 : 3,
    memoryTasks: 100,
    // The quick run (test/bench) must end within 3 minutes on 2 busy cores.
    burstSize: quick ? 30 : 110,
    burstRounds: quick ? 1 : 2,
  };
};
