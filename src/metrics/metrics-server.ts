/** The Prometheus endpoint: `GET /metrics` over plain HTTP, loopback unless configured otherwise. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { parseListenAddress } from './listen-address.js';
import type { Metrics } from './metrics.js';

export class MetricsServer {
  private readonly server: Server;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly listen: string,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Listens; resolves with the bound address (`host:port`, the real port when 0 was asked for). */
  async start(): Promise<string> {
    const { host, port } = parseListenAddress(this.listen);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new ExecutorError('FAILED_PRECONDITION', `metrics cannot listen on ${this.listen}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    this.log.info({ address }, 'metrics listening (GET /metrics)');
    return address;
  }

  /** Idempotent; open scrapes are cut rather than waited for. */
  stop(): Promise<void> {
    this.stopped ??= new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopped;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try GET /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    try {
      const body = await this.metrics.exposition();
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'metrics exposition failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics exposition failed\n');
    }
  }
}
