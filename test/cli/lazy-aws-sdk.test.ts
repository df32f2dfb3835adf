/**
 * Issue 15: an executor whose config needs no AWS (no log upload, no ECR, no
 * aws-eni networking, no role assumed yet) must not load the AWS SDK clients,
 * some tens of MiB of resident memory each. The built `serve` runs in a child
 * whose module resolve hook (module.register) writes down every module it
 * resolves; once the executor is ready, none may be an @aws-sdk/client-*.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, assertBuilt } from './run-task-process.js';

const READY_TIMEOUT_MS = 30_000;

/** Appends the URL of every module resolved to the file the register() call names. */
const RESOLVE_HOOK = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(file, r.url + '\\n');
  return r;
}`;

const hookLoader = (file: string): string =>
  `data:text/javascript,${encodeURIComponent(
    `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`)}, { parentURL: ${JSON.stringify(pathToFileURL(BIN).href)}, data: { file: ${JSON.stringify(file)} } });`,
  )}`;

/** The npm packages among the resolved URLs (`@scope/name` or `name`). */
const packagesIn = (urls: string[]): Set<string> =>
  new Set(urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));

t.test('serve with a default config loads no AWS SDK client', async (t) => {
  assertBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'titus-lazy-sdk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const resolved = join(dir, 'resolved.txt');
  const socket = join(dir, 'executor.sock');
  const config = join(dir, 'config.yaml');
  // The defaults, but for the paths of this test and no metrics port (tests run side by side).
  writeFileSync(
    config,
    [
      'executorId: lazy-sdk-test',
      'logLevel: info',
      `api:\n  socketPath: ${socket}`,
      `docker:\n  host: unix://${join(dir, 'no-engine.sock')}`,
      `stateDir: ${join(dir, 'state')}`,
      'metrics:\n  listen: null',
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', hookLoader(resolved), BIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const until = Date.now() + READY_TIMEOUT_MS;
  while (!output.includes('titus-executor ready') && child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.match(output, /titus-executor ready/, 'the executor started');
  child.kill('SIGTERM');
  await exited;

  t.ok(existsSync(resolved), 'the resolve hook ran');
  const packages = packagesIn(readFileSync(resolved, 'utf8').trim().split('\n'));
  t.ok(packages.has('@grpc/grpc-js'), 'the hook saw the packages the executor does load');
  for (const client of ['@aws-sdk/client-s3', '@aws-sdk/client-ecr', '@aws-sdk/client-sts', '@aws-sdk/client-ec2']) {
    t.notOk(packages.has(client), `${client} is not loaded`);
  }
  t.same(
    [...packages].filter((p) => p.startsWith('@aws-sdk/')),
    [],
    'no @aws-sdk package at all',
  );
});
