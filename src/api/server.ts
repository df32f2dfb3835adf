import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExecutorConfig } from '../config/config.js';
import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { groupId } from '../common/unix-group.js';
import type { TaskLogReader, TaskService } from '../task/task-service.js';
import { executorHandlers } from './executor-service.js';
import { WatchRegistry } from './streams.js';
import { loadExecutorProto } from './proto.js';
import { withRequestChecks } from './request-decoding.js';
import { grpcMetricsInterceptor, type Metrics } from '../metrics/index.js';

export const SERVICE_NAME = 'titus.executor.v1.TitusExecutor';

/** The gRPC server: the executor service, gRPC health and reflection, on a unix socket and optionally TCP. */
export class ExecutorServer {
  private readonly server: grpc.Server;
  private readonly health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  private readonly watches = new WatchRegistry();
  private stopped: Promise<void> | undefined;
  readonly addresses: string[] = [];

  constructor(
    private readonly tasks: TaskService,
    private readonly config: ExecutorConfig,
    private readonly log: Logger,
    metrics?: Metrics,
    logs?: TaskLogReader,
  ) {
    // Counting every call here covers the executor service, health and reflection alike.
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      interceptors: metrics !== undefined ? [grpcMetricsInterceptor(metrics)] : [],
    });
    const proto = loadExecutorProto();
    // Undecodable requests become INVALID_ARGUMENT in the handlers, not grpc-js' INTERNAL.
    const service = withRequestChecks(proto.grpcType.titus.executor.v1.TitusExecutor.service, SERVICE_NAME);
    this.server.addService(
      service,
      executorHandlers({ tasks, config, log, decodeContainerInfo: proto.decodeContainerInfo, ...(logs !== undefined ? { logs } : {}) }, this.watches),
    );
    this.health.addToServer(this.server);
    new ReflectionService(proto.packageDefinition).addToServer(this.server);
  }

  async start(): Promise<void> {
    const api = this.config.api;
    await this.bindUnix(api.socketPath, api.socketMode, api.socketGroup);
    if (api.tcpAddress !== undefined) await this.bindTcp(api.tcpAddress);
  }

  /** Ends watch streams, lets in-flight calls finish (up to 5 s), then closes. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      this.health.setStatus('', 'NOT_SERVING');
      this.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      this.watches.closeAll();
      const force = setTimeout(() => this.server.forceShutdown(), 5000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        rmSync(this.config.api.socketPath, { force: true });
        resolve();
      });
    });
    return this.stopped;
  }

  private async bindUnix(path: string, mode: number, group: string | undefined): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    // A socket left by a crashed executor would make the bind fail.
    rmSync(path, { force: true });
    await this.bind(`unix://${path}`, grpc.ServerCredentials.createInsecure());
    chmodSync(path, mode);
    if (group !== undefined) chownSync(path, 0, groupId(group, 'api.socketGroup'));
    this.addresses.push(`unix://${path}`);
    this.log.info({ socket: path, mode: mode.toString(8), group }, 'gRPC listening on unix socket');
  }

  private async bindTcp(address: string): Promise<void> {
    const tls = this.config.api.tls;
    const creds =
      tls === undefined
        ? grpc.ServerCredentials.createInsecure()
        : grpc.ServerCredentials.createSsl(
            readFileSync(tls.caFile),
            [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
            true, // mTLS: clients must present a certificate signed by caFile
          );
    const port = await this.bind(address, creds);
    const bound = address.replace(/:\d+$/, `:${port}`);
    this.addresses.push(bound);
    if (tls === undefined) this.log.warn({ address: bound }, 'gRPC listening on TCP WITHOUT TLS; set api.tls for mTLS');
    else this.log.info({ address: bound }, 'gRPC listening on TCP with mTLS');
  }

  private bind(address: string, creds: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, creds, (err, port) => {
        if (err !== null) reject(new ExecutorError('FAILED_PRECONDITION', `cannot listen on ${address}: ${errorMessage(err)}`));
        else resolve(port);
      });
    });
  }
}
