/**
 * A load client in its own process (so it does not share the servers' event
 * loop): GETs `path` on `url` for `durationMs` with `concurrency` requests in
 * flight, each request from one task's source address with its IMDSv2 token,
 * round-robin. Prints {requests, errors, rps, p50Ms, p99Ms} as JSON.
 */
import { Agent, request } from 'node:http';

interface LoadTask {
  readonly sourceAddress: string;
  readonly token: string;
}

interface LoadInput {
  readonly url: string;
  readonly path: string;
  readonly durationMs: number;
  readonly concurrency: number;
  readonly tasks: readonly LoadTask[];
}

const readInput = async (): Promise<LoadInput> => {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return JSON.parse(text) as LoadInput;
};

const main = async (): Promise<void> => {
  const input = await readInput();
  const target = new URL(input.url);
  // One keep-alive agent per source address: the address is what identifies the task.
  const agents = input.tasks.map((task) => ({ task, agent: new Agent({ keepAlive: true, localAddress: task.sourceAddress, maxSockets: input.concurrency }) }));
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const until = Date.now() + input.durationMs;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const pick = agents[next++ % agents.length];
      if (pick === undefined) return resolve();
      const started = process.hrtime.bigint();
      const req = request(
        { host: target.hostname, port: target.port, path: input.path, agent: pick.agent, headers: { 'X-aws-ec2-metadata-token': pick.task.token } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            else errors += 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (Date.now() < until) await once();
  };
  const startedAt = Date.now();
  await Promise.all(Array.from({ length: input.concurrency }, worker));
  const elapsedS = (Date.now() - startedAt) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  for (const a of agents) a.agent.destroy();
  process.stdout.write(JSON.stringify({ requests: latencies.length, errors, rps: latencies.length / elapsedS, p50Ms: at(0.5), p99Ms: at(0.99) }));
};

main().catch((err: unknown) => {
  process.stderr.write(`metadata-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
