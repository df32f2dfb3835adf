/**
 * The interLink plugin API over node:http, which reads a body whatever the
 * method (interLink sends JSON bodies on GET). Served on a unix socket and,
 * optionally, on loopback: no authentication reaches a plugin.
 */
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { ExecutorError, errorMessage, isExecutorError, type ExecutorErrorCode } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { groupId } from '../common/unix-group.js';
import { parseLoopbackListen, type InterlinkConfig } from '../config/interlink-config.js';
import type { InterlinkService } from './interlink-service.js';
import { formatLogLine } from './log-request.js';
import { drained } from '../common/abortable.js';
import { isRuntimeError } from '../task/task-service.js';

/** Pods with their ConfigMaps and Secrets: generous, but bounded. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * How long an idle keep-alive connection stays open. interLink's clients keep
 * theirs 120 s (IdleConnTimeout) and do not retry a POST that meets a
 * connection the server closed meanwhile: the server must outlast them.
 */
export const KEEP_ALIVE_MS = 130_000;

const HTTP_STATUS: Record<ExecutorErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 503,
  FAILED_PRECONDITION: 412,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  OUT_OF_RANGE: 400,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
};

/** The HTTP status of a failed interLink request: as gRPC's status map, an engine that is away is 503, not 500. */
export const httpStatusFor = (err: unknown): number => {
  if (isExecutorError(err)) return HTTP_STATUS[err.code];
  if (isRuntimeError(err, 'engine-unavailable')) return HTTP_STATUS.UNAVAILABLE;
  return HTTP_STATUS.INTERNAL;
};

type Route = (res: ServerResponse, body: unknown) => Promise<void>;

export class InterlinkServer {
  private readonly servers: Server[] = [];
  private readonly routes: Record<string, { methods: readonly string[]; handle: Route }>;
  private stopped: Promise<void> | undefined;
  /** Where it listens: `unix:<path>` and `host:port`. */
  readonly addresses: string[] = [];

  constructor(
    private readonly service: InterlinkService,
    private readonly config: Pick<InterlinkConfig, 'socketPath' | 'listen'> & Partial<Pick<InterlinkConfig, 'socketMode' | 'socketGroup'>>,
    private readonly log: Logger,
  ) {
    this.routes = {
      // interLink's API server POSTs /delete; its virtual kubelet uses DELETE for the same body.
      '/create': { methods: ['POST'], handle: async (res, body) => sendJson(res, await this.service.create(body)) },
      '/delete': { methods: ['POST', 'DELETE'], handle: async (res, body) => sendJson(res, await this.service.delete(body).then(() => ({}))) },
      '/status': { methods: ['GET', 'POST'], handle: async (res, body) => sendJson(res, await this.service.status(body)) },
      '/getLogs': { methods: ['GET', 'POST'], handle: (res, body) => this.streamLogs(res, body) },
    };
  }

  async start(): Promise<void> {
    const { socketPath, listen } = this.config;
    if (socketPath !== null) {
      mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
      rmSync(socketPath, { force: true }); // left by a crashed executor, it would make the bind fail
      await this.listen((s, cb) => s.listen(socketPath, cb), `unix:${socketPath}`);
      const { socketMode = 0o660, socketGroup } = this.config;
      chmodSync(socketPath, socketMode);
      if (socketGroup !== undefined) chownSync(socketPath, 0, groupId(socketGroup, 'interlink.socketGroup'));
      this.addresses.push(`unix:${socketPath}`);
    }
    if (listen !== null) {
      const addr = parseLoopbackListen(listen);
      if (addr === undefined) throw new ExecutorError('INVALID_ARGUMENT', `interlink.listen: ${listen} is not a loopback host:port`);
      const server = await this.listen((s, cb) => s.listen(addr.port, addr.host, cb), listen);
      const bound = server.address() as AddressInfo;
      this.addresses.push(`${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`);
    }
    this.log.info(
      { addresses: this.addresses, socketMode: (this.config.socketMode ?? 0o660).toString(8), socketGroup: this.config.socketGroup ?? 'root' },
      'interLink plugin API listening',
    );
  }

  /** Idempotent; open log follows are cut. */
  stop(): Promise<void> {
    this.stopped ??= Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.listening) return resolve();
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    ).then(() => {
      if (this.config.socketPath !== null) rmSync(this.config.socketPath, { force: true });
    });
    return this.stopped;
  }

  private async listen(bind: (s: Server, cb: () => void) => void, where: string): Promise<Server> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    // Node closes a connection whose next request's headers take longer than this, idle time included.
    server.headersTimeout = KEEP_ALIVE_MS + 5_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new ExecutorError('FAILED_PRECONDITION', `interLink plugin API cannot listen on ${where}: ${err.message}`));
      server.once('error', onError);
      bind(server, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.servers.push(server);
    return server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = this.routes[path];
    try {
      if (route === undefined) throw new ExecutorError('NOT_FOUND', `no route ${path}; the plugin serves /create, /delete, /status and /getLogs`);
      if (!route.methods.includes(req.method ?? '')) {
        res.setHeader('allow', route.methods.join(', '));
        return void res.writeHead(405, { 'content-type': 'text/plain' }).end(`${req.method ?? ''} ${path}: use ${route.methods.join(' or ')}\n`);
      }
      const body = await readJsonBody(req);
      await route.handle(res, body);
    } catch (err) {
      const status = httpStatusFor(err);
      if (status >= 500) this.log.error({ path, err: errorMessage(err) }, 'interLink request failed');
      else this.log.info({ path, err: errorMessage(err) }, 'interLink request refused');
      if (res.headersSent) return void res.destroy(); // a log stream that broke midway: the client sees it cut
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${errorMessage(err)}\n`);
    }
  }

  /** Streams the container's lines as text, flushing each batch; ends with the stream, or when the client goes. */
  private async streamLogs(res: ServerResponse, body: unknown): Promise<void> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.on('close', onClose);
    try {
      const { plan, batches } = this.service.logs(body, abort.signal);
      const iterator = batches[Symbol.asyncIterator]();
      // A log store that keeps nothing for the task fails the first read at once: that is a 404,
      // not an empty 200. Otherwise the headers go now, whether or not a line exists yet:
      // interLink gives up on a response without headers after 120 s (a quiet `kubectl logs -f`).
      const first = iterator.next();
      let failedAtOnce: { err: unknown } | undefined;
      await Promise.race([first.catch((err: unknown) => void (failedAtOnce = { err })), new Promise((resolve) => setImmediate(resolve))]);
      if (failedAtOnce !== undefined) throw failedAtOnce.err;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.flushHeaders();
      let next = await first;
      let budget = plan.limitBytes ?? Number.POSITIVE_INFINITY;
      while (!next.done && !abort.signal.aborted && budget > 0) {
        let chunk = next.value.map((line) => formatLogLine(line, plan.timestamps)).join('');
        if (Buffer.byteLength(chunk) > budget) chunk = Buffer.from(chunk).subarray(0, budget).toString();
        budget -= Buffer.byteLength(chunk);
        if (chunk !== '' && !res.write(chunk)) await drained(res, abort.signal);
        if (budget <= 0) break;
        next = await iterator.next();
      }
      await iterator.return?.();
      res.end();
    } catch (err) {
      if (abort.signal.aborted) return; // the client went away: nothing to answer
      throw err;
    } finally {
      res.off('close', onClose);
    }
  }
}


const sendJson = (res: ServerResponse, value: unknown): void => {
  const text = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
};

/** The request body as JSON whatever the method; an empty body is null. */
const readJsonBody = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ExecutorError('INVALID_ARGUMENT', `body: larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ExecutorError('INVALID_ARGUMENT', `body: not JSON (${errorMessage(err)})`);
  }
};
