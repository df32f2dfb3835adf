/**
 * A private registry (Debian's docker-registry, distribution 2.8) on a free
 * loopback port, storing under the harness dir. dockerd treats 127.0.0.0/8
 * registries as insecure by default, so plain http works without config.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logTail } from './dockerd.js';
import { harnessEnv, hasExited, spawnDaemon, terminate } from './proc.js';

export interface Registry {
  /** '127.0.0.1:<port>' */
  readonly address: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 5;
/** Every response of our registry carries this header with the harness id (see `identify`). */
const ID_HEADER = 'x-titus-harness';

/** A port that was free a moment ago; another process may still take it, hence the retries in startRegistry. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });

export interface RegistryOptions {
  /** A bcrypt htpasswd file (`htpasswd -B`): every request then needs basic auth, as a private registry does. */
  readonly htpasswdFile?: string;
}

const registryConfig = (storageDir: string, port: number, runId: string, opts: RegistryOptions): string =>
  // JSON is valid YAML, so no YAML writer is needed.
  JSON.stringify(
    {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
      http: {
        addr: `127.0.0.1:${port}`,
        // A fixed secret silences the "no HTTP secret" warning.
        secret: randomBytes(16).toString('hex'),
        headers: { 'X-Titus-Harness': [runId] },
      },
      ...(opts.htpasswdFile === undefined ? {} : { auth: { htpasswd: { realm: 'titus-harness', path: opts.htpasswdFile } } }),
    },
    null,
    2,
  );

/** The harness id in a GET /v2/ answer on `port`, or undefined when nothing healthy answers there. */
const identify = (port: number): Promise<string | undefined> =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/', method: 'GET', timeout: 2_000 }, (res) => {
      res.resume();
      const id = res.headers[ID_HEADER];
      // 401: a registry with auth that is up (its challenge carries our header too).
      resolve((res.statusCode === 200 || res.statusCode === 401) && typeof id === 'string' ? id : undefined);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });

type Attempt = { ok: true } | { ok: false; why: string };

/**
 * Waits until our registry answers. Checking the id header matters: if another
 * process grabbed the port first, our registry exits with EADDRINUSE while the
 * other one would happily answer /v2/.
 */
const waitReady = async (child: ChildProcess, port: number, runId: string): Promise<Attempt> => {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(child)) return { ok: false, why: `exited with code ${child.exitCode}` };
    const id = await identify(port);
    if (id === runId) return { ok: true };
    await sleep(id === undefined ? 50 : 200);
  }
  return { ok: false, why: `no answer on port ${port} within ${READY_TIMEOUT_MS} ms` };
};

export const startRegistry = async (dir: string, runId: string, opts: RegistryOptions = {}): Promise<Registry> => {
  const configPath = join(dir, 'registry.json');
  const logPath = join(dir, 'registry.log');
  const failures: string[] = [];
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    await writeFile(configPath, registryConfig(join(dir, 'registry'), port, runId, opts));
    const child = spawnDaemon(['docker-registry', 'serve', configPath], logPath, harnessEnv());
    const ready = await waitReady(child, port, runId);
    if (ready.ok) {
      let stopping: Promise<void> | undefined;
      return { address: `127.0.0.1:${port}`, child, stop: () => (stopping ??= terminate(child, 5_000)) };
    }
    failures.push(`port ${port}: ${ready.why}`);
    await terminate(child, 2_000);
  }
  throw new Error(`docker-registry did not start (${failures.join('; ')}); log tail:\n${await logTail(logPath)}`);
};
