import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../common/log.js';
import { parseMetadataProxyConfig } from './config.js';
import { MetadataProxy } from './metadata-proxy.js';
import type { RoleAssumer } from './sts-assumer.js';
import { InMemoryTaskDirectory } from './task-directory.js';

export interface BenchTask {
  readonly taskId: string;
  /** Bind the client's socket to this address (`localAddress`): it is what identifies the task. */
  readonly sourceAddress: string;
  /** An IMDSv2 token for this task, valid for 6 h. */
  readonly token: string;
  /** The exact bytes both servers answer this task at `credentialsPath`. */
  readonly body: Buffer;
}

export interface MetadataBenchFixture {
  /** The proxy, e.g. http://127.0.0.1:41234 */
  readonly proxyUrl: string;
  /** A bare node:http server answering each task's precomputed bytes for any path, for comparison. */
  readonly plainUrl: string;
  readonly credentialsPath: string;
  readonly tasks: readonly BenchTask[];
  close(): Promise<void>;
}

export interface MetadataBenchOptions {
  /** Number of tasks, each on its own loopback address 127.1.x.y (at most 62,500). */
  readonly tasks: number;
  /** Refuse token-less reads, as a hardened host would (default false: send the token anyway to measure its check). */
  readonly requireToken?: boolean;
  readonly log?: Logger;
}

const ROLE_NAME = 'bench-role';
const ONE_HOUR_MS = 3_600_000;

/** Credentials from memory, valid for an hour: the bench measures serving from cache, not STS. */
const benchAssumer: RoleAssumer = {
  assumeRole: async ({ sessionName }) => ({
    accessKeyId: 'ASIABENCHBENCHBENCH0',
    secretAccessKey: `bench-secret-${sessionName}`,
    sessionToken: `bench-session-token-${sessionName}`,
    expirationMs: Date.now() + ONE_HOUR_MS,
    assumedRoleId: `AROABENCH:${sessionName}`,
    assumedRoleArn: `arn:aws:sts::000000000000:assumed-role/${ROLE_NAME}/${sessionName}`,
  }),
};

/**
 * Starts the proxy on 127.0.0.1 with a directory of `tasks` fake tasks whose
 * credentials are already cached, plus a plain node:http server returning the
 * same bytes, so a bench can compare requests/s and latency of the two.
 */
export const startMetadataBenchFixture = async (o: MetadataBenchOptions): Promise<MetadataBenchFixture> => {
  if (!Number.isInteger(o.tasks) || o.tasks < 1 || o.tasks > 62_500) throw new Error('tasks must be 1..62500');
  const directory = new InMemoryTaskDirectory();
  const config = parseMetadataProxyConfig({
    listen: { hosts: ['127.0.0.1'], port: 0 },
    requireToken: o.requireToken ?? false,
    upstream: { url: 'http://127.0.0.1:9' }, // never read: placement is configured
    placement: { region: 'us-east-1', availabilityZone: 'us-east-1a', availabilityZoneId: 'use1-az1' },
  });
  const proxy = new MetadataProxy({ config, directory, log: o.log ?? silentLogger(), roleAssumer: benchAssumer });
  await proxy.start();
  const port = proxy.addresses()[0]?.port ?? 0;
  const credentialsPath = `/latest/meta-data/iam/security-credentials/${ROLE_NAME}`;
  const tasks: BenchTask[] = [];
  for (let i = 0; i < o.tasks; i++) {
    const taskId = `bench-task-${i}`;
    const sourceAddress = `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    directory.attachTask({
      taskId,
      ipv4Address: sourceAddress,
      iamRoleArn: `arn:aws:iam::000000000000:role/${ROLE_NAME}`,
      image: 'bench/image:latest',
      acceptedAtMs: Date.now(),
      containerInfo: {},
    });
    const token = (await call(port, sourceAddress, 'PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' })).toString();
    const body = await call(port, sourceAddress, 'GET', credentialsPath, { 'x-aws-ec2-metadata-token': token });
    tasks.push({ taskId, sourceAddress, token, body });
  }
  const plain = await startPlainServer(new Map(tasks.map((t) => [t.sourceAddress, t.body])));
  return {
    proxyUrl: `http://127.0.0.1:${port}`,
    plainUrl: `http://127.0.0.1:${(plain.address() as AddressInfo).port}`,
    credentialsPath,
    tasks,
    close: async () => {
      await new Promise<void>((resolve) => {
        plain.close(() => resolve());
        plain.closeAllConnections();
      });
      await proxy.stop();
    },
  };
};

const startPlainServer = (bodies: ReadonlyMap<string, Buffer>): Promise<Server> => {
  const server = createServer((req, res) => {
    const body = bodies.get(req.socket.remoteAddress ?? '') ?? Buffer.alloc(0);
    res.writeHead(200, { Server: 'EC2ws', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
};

const call = (port: number, localAddress: string, method: string, path: string, headers: Record<string, string>): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, localAddress, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
