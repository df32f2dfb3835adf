/**
 * Metadata proxy throughput against its ceiling: the same per-task cached
 * credentials bytes served by the proxy and by a bare node:http server (the
 * fixture in src/metadata-proxy/bench-fixture.ts), loaded in turn by a client
 * process; rounds alternate which server goes first.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMetadataBenchFixture } from '../src/metadata-proxy/bench-fixture.js';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface MetadataSamples {
  readonly proxy: LoadResult[];
  readonly plain: LoadResult[];
  readonly tasks: number;
  readonly concurrency: number;
  readonly durationMs: number;
}

const client = fileURLToPath(new URL('./metadata-load.js', import.meta.url));

const runLoad = (input: object): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [client], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`metadata load client exited with ${code}`))));
    child.stdin.end(JSON.stringify(input));
  });

export const measureMetadataProxy = async (o: { rounds: number; durationMs: number; tasks: number; concurrency: number }): Promise<MetadataSamples> => {
  const fixture = await startMetadataBenchFixture({ tasks: o.tasks });
  try {
    const tasks = fixture.tasks.map((t) => ({ sourceAddress: t.sourceAddress, token: t.token }));
    const load = (url: string) => runLoad({ url, path: fixture.credentialsPath, durationMs: o.durationMs, concurrency: o.concurrency, tasks });
    const proxy: LoadResult[] = [];
    const plain: LoadResult[] = [];
    for (let round = 0; round < o.rounds; round++) {
      if (round % 2 === 0) {
        plain.push(await load(fixture.plainUrl));
        proxy.push(await load(fixture.proxyUrl));
      } else {
        proxy.push(await load(fixture.proxyUrl));
        plain.push(await load(fixture.plainUrl));
      }
    }
    const failed = [...proxy, ...plain].reduce((n, r) => n + r.errors, 0);
    if (failed > 0) throw new Error(`${failed} metadata requests failed during the bench`);
    return { proxy, plain, tasks: o.tasks, concurrency: o.concurrency, durationMs: o.durationMs };
  } finally {
    await fixture.close();
  }
};
