import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { clampTimerDelay } from '../common/long-timer.js';
import { status } from './answers.js';
import type { MetadataProxyConfig } from './config.js';
import { RoleCredentialCache } from './credential-cache.js';
import { HostPlacement } from './host-placement.js';
import { identityTypes } from './identity-document.js';
import { loadIdentitySigner, type IdentitySigner } from './identity-signer.js';
import { listenInNetns } from './netns-listen.js';
import { routeRequest, type RoutedAnswer, type RouterDeps } from './router.js';
import { StsRoleAssumer, type HostCredentials, type RoleAssumer } from './sts-assumer.js';
import { hasDirectoryEvents } from './task-directory.js';
import { TokenIssuer } from './tokens.js';
import { systemClock, type Clock, type CredentialEvents, type TaskDirectory } from './types.js';

export interface MetadataProxyOptions {
  readonly config: MetadataProxyConfig;
  readonly directory: TaskDirectory;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Where role trouble is reported (the executor puts it in the task's status). */
  readonly events?: CredentialEvents;
  /** The host's credentials for signing AssumeRole; unset: the SDK's default chain. */
  readonly hostCredentials?: HostCredentials;
  /** Replaces STS entirely (tests, or an IAM service). */
  readonly roleAssumer?: RoleAssumer;
  /** Replaces `config.identity.signingKeyFile`. */
  readonly identitySigner?: IdentitySigner;
  /** Told of every answered request, by route class and status only (metrics); never the path or headers. */
  readonly onRequest?: (route: string, status: number) => void;
  /**
   * Listen inside this network namespace (`/run/netns/<name>`) instead of the
   * process's own: the namespace holding the host side of the task veths when
   * that is not the executor's (`network.local.hostNetns`). See netns-listen.ts.
   */
  readonly netnsPath?: string;
  /**
   * Whether to listen on `config.listen` at all (default true). False where
   * every task gets a listener in its own namespace (serveTaskNamespace: the
   * aws-eni driver), so nothing of the proxy is open on the host.
   */
  readonly sharedListeners?: boolean;
}

/** Where one task's own listeners go: inside its network namespace, at the metadata addresses. */
export interface TaskNamespaceListen {
  readonly taskId: string;
  /** `/proc/<pid>/ns/net` of the task's sandbox. */
  readonly netnsPath: string;
  /** 169.254.169.254, and fd00:ec2::254 for a task with IPv6. */
  readonly hosts: readonly string[];
  /** 80, where clients look. */
  readonly port: number;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * The per-host metadata proxy: one HTTP server (one socket per configured
 * listen host) answering each task from the directory entry its source
 * address selects. Start it before the first task attaches, stop it last.
 */
export class MetadataProxy {
  private readonly servers: Server[] = [];
  /** Listeners inside tasks' own namespaces, by task id. */
  private readonly taskServers = new Map<string, Server[]>();
  private readonly clock: Clock;
  private readonly credentials: RoleCredentialCache;
  private readonly deps: RouterDeps;
  private readonly assumer: RoleAssumer;
  private refreshTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: MetadataProxyOptions) {
    const { config, log } = o;
    this.clock = o.clock ?? systemClock;
    const placement = new HostPlacement({
      upstreamUrl: config.upstream.url,
      timeoutMs: config.upstream.timeoutMs,
      configured: {
        region: config.placement.region,
        'availability-zone': config.placement.availabilityZone,
        'availability-zone-id': config.placement.availabilityZoneId,
      },
      log,
    });
    this.assumer =
      o.roleAssumer ??
      new StsRoleAssumer({
        region: config.sts.region ?? (() => placement.get('region')),
        ...(config.sts.endpoint === undefined ? {} : { endpoint: config.sts.endpoint }),
        ...(o.hostCredentials === undefined ? {} : { hostCredentials: o.hostCredentials }),
        requestTimeoutMs: config.sts.requestTimeoutMs,
        maxAttempts: config.sts.maxAttempts,
      });
    this.credentials = new RoleCredentialCache({
      assumer: this.assumer,
      clock: this.clock,
      log,
      events: o.events ?? {},
      durationSeconds: config.sts.durationSeconds,
      refreshBeforeExpiryMs: config.sts.refreshBeforeExpirySeconds * 1000,
      retryIntervalMs: config.sts.retryIntervalSeconds * 1000,
      firstCredentialsWaitMs: config.sts.firstCredentialsWaitMs,
    });
    const signer =
      o.identitySigner ??
      (config.identity.signingKeyFile === undefined ? undefined : loadIdentitySigner(config.identity.signingKeyFile, config.identity.certificateChainFile));
    this.deps = {
      directory: o.directory,
      tokens: new TokenIssuer(this.clock),
      sources: { placement, credentials: this.credentials, accountId: config.accountId },
      signer,
      clock: this.clock,
      requireTokenByDefault: config.requireToken,
    };
  }

  async start(): Promise<void> {
    const { directory, config } = this.o;
    if (this.deps.signer !== undefined) identityTypes(); // fail at start, not at a task's first request, if the protos are missing
    if (hasDirectoryEvents(directory)) {
      this.unsubscribe = directory.onChange({
        attached: (task) => {
          if (task.iamRoleArn !== undefined) this.credentials.track(task.taskId, task.iamRoleArn);
        },
        detached: (taskId) => this.credentials.forget(taskId),
      });
    }
    if (this.o.sharedListeners !== false) {
      for (const host of config.listen.hosts) this.servers.push(await this.listen(host, config.listen.port));
    }
    this.refreshTimer = setInterval(() => void this.refreshCredentials(), clampTimerDelay(config.sts.refreshCheckIntervalSeconds * 1000));
    this.refreshTimer.unref();
    this.o.log.info({ addresses: this.addresses(), ...(this.o.netnsPath === undefined ? {} : { netns: this.o.netnsPath }) }, 'metadata proxy listening');
  }

  async stop(): Promise<void> {
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.unsubscribe?.();
    const perTask = [...this.taskServers.values()].flat();
    this.taskServers.clear();
    await closeServers([...this.servers.splice(0), ...perTask]);
    if (this.assumer instanceof StsRoleAssumer) this.assumer.destroy();
  }

  /**
   * Listens inside one task's own network namespace (an ENI task, whose
   * traffic never passes the host) and answers every request there as that
   * task, by its directory entry: nothing but that task can connect to a
   * socket in its namespace. Until the task is attached (or after it is
   * detached) the answer is 403, as for an unknown caller. All or nothing: a
   * host that cannot be bound closes the others and throws, so the caller
   * fails the task. Replaces the task's earlier listeners.
   */
  async serveTaskNamespace(listen: TaskNamespaceListen): Promise<void> {
    await this.closeTaskNamespace(listen.taskId);
    const servers: Server[] = [];
    try {
      for (const host of listen.hosts) {
        const bound = await listenInNetns({ netnsPath: listen.netnsPath, host, port: listen.port });
        servers.push(await this.serve(bound, listen.taskId));
      }
    } catch (err) {
      await closeServers(servers);
      throw err;
    }
    this.taskServers.set(listen.taskId, servers);
    this.o.log.debug({ taskId: listen.taskId, hosts: listen.hosts, port: listen.port, netns: listen.netnsPath }, 'metadata proxy listening in the task namespace');
  }

  /** Closes a task's own listeners (and its open connections); idempotent. */
  async closeTaskNamespace(taskId: string): Promise<void> {
    const servers = this.taskServers.get(taskId);
    if (servers === undefined) return;
    this.taskServers.delete(taskId);
    await closeServers(servers);
  }

  /** Tasks served by listeners in their own namespaces. */
  taskNamespaces(): string[] {
    return [...this.taskServers.keys()];
  }

  /** Where the proxy actually listens (port 0 in the config picks a free port). */
  addresses(): ListenAddress[] {
    return this.servers.map((s) => {
      const a = s.address() as AddressInfo;
      return { host: a.address, port: a.port };
    });
  }

  /**
   * One pass of the background refresh (also what tests with a fake clock
   * call): drops credentials of tasks no longer in the directory, renews
   * what is due, retries what failed.
   */
  async refreshCredentials(): Promise<void> {
    for (const taskId of this.credentials.trackedTaskIds()) {
      if (this.o.directory.taskById(taskId) === undefined) this.credentials.forget(taskId);
    }
    await this.credentials.refreshDue();
  }

  /** The node:http request listener (exported so a caller may mount it on its own server). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => this.answer(req, res, undefined);

  private answer(req: IncomingMessage, res: ServerResponse, boundTaskId: string | undefined): void {
    const startedAt = process.hrtime.bigint();
    req.resume(); // no route reads a body; drain whatever came
    const request = { method: req.method ?? 'GET', target: req.url, headers: req.headers, remoteAddress: req.socket.remoteAddress };
    routeRequest(boundTaskId === undefined ? request : { ...request, boundTaskId }, this.deps)
      .catch((err: unknown): RoutedAnswer => {
        this.o.log.error({ err: errorMessage(err) }, 'metadata proxy request failed');
        return status(500, 'error', 'Internal Server Error');
      })
      .then((answer) => {
        this.write(req, res, answer);
        this.o.onRequest?.(answer.route, answer.status);
        // Only the route label, never the raw path or headers: a path or
        // header may carry anything a client made up, tokens included.
        const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
        this.o.log.debug({ taskId: answer.taskId, method: req.method, route: answer.route, status: answer.status, ms, remote: req.socket.remoteAddress }, 'metadata request');
      });
  }

  private write(req: IncomingMessage, res: ServerResponse, answer: RoutedAnswer): void {
    if (res.headersSent || res.destroyed) return;
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
    res.writeHead(answer.status, {
      ...answer.headers,
      Server: 'EC2ws',
      'Content-Type': answer.contentType,
      'Content-Length': String(body.length),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** An HTTP server on a socket bound elsewhere, answering as `boundTaskId` when given. */
  private serve(bound: NetServer, boundTaskId: string | undefined): Promise<Server> {
    const timeouts = { requestTimeout: this.o.config.requestTimeoutMs, headersTimeout: this.o.config.requestTimeoutMs };
    const server = createServer(timeouts, (req, res) => this.answer(req, res, boundTaskId));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  private async listen(host: string, port: number): Promise<Server> {
    const server = createServer({ requestTimeout: this.o.config.requestTimeoutMs, headersTimeout: this.o.config.requestTimeoutMs }, this.handle);
    // A socket bound in another namespace is served like one of ours (listen(handle) takes a server).
    const bound: NetServer | undefined = this.o.netnsPath === undefined ? undefined : await listenInNetns({ netnsPath: this.o.netnsPath, host, port });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const listening = (): void => {
        server.off('error', reject);
        resolve(server);
      };
      if (bound === undefined) server.listen({ host, port, ipv6Only: host.includes(':') }, listening);
      else server.listen(bound, listening);
    });
  }
}

const closeServers = (servers: readonly Server[]): Promise<unknown> =>
  Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
