import Docker from 'dockerode';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { ExecutorError, errorMessage } from '../common/errors.js';
import { EventLines } from './engine-events.js';
import { SharedInFlight } from '../common/shared-in-flight.js';
import { ConcurrencyLimit } from '../common/concurrency-limit.js';
import type { PullProgress } from './pull-progress.js';
import type {
  ContainerDetails,
  ContainerExit,
  ContainerOutputLine,
  ContainerOutputSource,
  ContainerRuntime,
  ContainerSummary,
  FollowOutputOptions,
  ImportImageOptions,
  SandboxEngine,
} from './container-runtime.js';
import type { ContainerSpec, ImageConfig } from './container-spec.js';
import { DiskQuotaTracker, engineStorageInfoSchema, isStorageSizeUnsupported, type DiskQuotaSupport } from './disk-quota.js';
import type { ImageRef } from './image-ref.js';
import { KernelOomLog, type OomKillEvidence } from './kernel-oom-log.js';
import { OutputFrameParser } from './output-frames.js';
import { ResumeFilter } from './output-resume.js';
import { timestampToMs } from './output-timestamp.js';
import { PullProgressTracker, type PullStreamEvent } from './pull-progress.js';
import { RuntimeError, isRuntimeError } from './runtime-errors.js';
import { engineAuthConfig, RegistryAuthError, type PullCredentialSource, type RegistryCredentials, type TaskPullAuth } from './registry-auth/index.js';

/** dockerode's errors carry the engine's HTTP status and JSON body. */
interface EngineError {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
  message?: string;
}

const asEngineError = (err: unknown): EngineError => (typeof err === 'object' && err !== null ? (err as EngineError) : {});

const engineMessage = (err: unknown): string => {
  const e = asEngineError(err);
  return e.json?.message ?? e.message ?? String(err);
};

const asList = (v: string | string[] | null | undefined): string[] => (v == null ? [] : typeof v === 'string' ? [v] : v);

/** The registry's and the engine's words for a refused login (distribution's `unauthorized`, `denied`). */
const PULL_DENIED = /unauthorized|authentication required|no basic auth credentials|access.*denied|denied:|forbidden|incorrect username or password/i;

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

const isUnreachable = (err: unknown): boolean => {
  const code = asEngineError(err).code;
  return code !== undefined && UNREACHABLE_CODES.has(code);
};

/** Parses `unix:///path` or `tcp://host:port` into dockerode options. */
export const dockerOptionsFor = (host: string): Docker.DockerOptions => {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
};

/** The runtime's own config slice. */
export interface DockerRuntimeOptions {
  /**
   * Container creates and starts sent to the engine at once (docker.engineConcurrency);
   * the rest wait here. 0: no limit.
   */
  readonly engineConcurrency?: number;
}

/** The Docker Engine API adapter; the only file that knows dockerode. */
export class DockerRuntime implements ContainerRuntime, SandboxEngine, ContainerOutputSource {
  private readonly docker: Docker;
  private readonly quota: DiskQuotaTracker;
  private readonly creates: ConcurrencyLimit;
  private readonly starts: ConcurrencyLimit;
  /** A burst of launches of one image inspects it once (the answer is shared while it is in flight, never kept). */
  private readonly imageInspects = new SharedInFlight<ImageConfig | undefined>();
  /** Container id -> who waits for its `die` event (onContainerExited). */
  private readonly exitListeners = new Map<string, Set<() => void>>();

  constructor(
    readonly host: string,
    private readonly oomEvidence: OomKillEvidence = new KernelOomLog(),
    /** Registry credentials for pulls (registry-auth/); unset: anonymous pulls. */
    private readonly credentials?: PullCredentialSource,
    options: DockerRuntimeOptions = {},
  ) {
    this.docker = new Docker(dockerOptionsFor(host));
    this.creates = new ConcurrencyLimit(options.engineConcurrency ?? 0);
    this.starts = new ConcurrencyLimit(options.engineConcurrency ?? 0);
    this.quota = new DiskQuotaTracker(async () => {
      try {
        return engineStorageInfoSchema.parse(await this.docker.info());
      } catch (err) {
        throw this.wrap(err, 'read the engine info');
      }
    });
  }

  /** Whether a task's disk size is enforced by the engine's storage driver or only accounted (disk-quota.ts). */
  diskQuota(): Promise<DiskQuotaSupport> {
    return this.quota.current();
  }

  async version(): Promise<string> {
    try {
      const v = await this.docker.version();
      return `${v.Version} (API ${v.ApiVersion})`;
    } catch (err) {
      throw new ExecutorError('UNAVAILABLE', `container engine at ${this.host} is not reachable: ${engineMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** The OCI runtimes registered with the engine (`docker info` Runtimes), e.g. runc, oci-add-hooks. */
  async registeredRuntimes(): Promise<string[]> {
    try {
      const info = (await this.docker.info()) as { Runtimes?: Record<string, unknown> };
      return Object.keys(info.Runtimes ?? {});
    } catch (err) {
      throw this.wrap(err, 'info');
    }
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw this.wrap(err, 'ping');
    }
  }

  /**
   * The engine's event stream: a liveness signal (it breaks when the engine
   * goes away), and the containers' `die` events for onContainerExited.
   */
  async watchEvents(onEnd: (err?: Error) => void): Promise<() => void> {
    let stream: Readable;
    try {
      stream = (await this.docker.getEvents({ filters: JSON.stringify({ type: ['container'], event: ['die'] }) })) as unknown as Readable;
    } catch (err) {
      throw this.wrap(err, 'subscribe to events');
    }
    let closed = false;
    const end = (err?: Error): void => {
      if (closed) return;
      closed = true;
      onEnd(err);
    };
    const lines = new EventLines((id) => this.exitListeners.get(id)?.forEach((listener) => listener()));
    stream.on('data', (chunk: Buffer) => lines.push(chunk));
    stream.on('error', (err: Error) => end(err));
    stream.on('end', () => end());
    stream.on('close', () => end());
    // An engine that went away may come back with another storage driver or data root.
    const forgetQuota = (): void => this.quota.forget();
    stream.once('end', forgetQuota);
    stream.once('error', forgetQuota);
    return () => {
      closed = true;
      stream.destroy();
    };
  }

  onContainerExited(id: string, listener: () => void): () => void {
    const listeners = this.exitListeners.get(id) ?? new Set();
    listeners.add(listener);
    this.exitListeners.set(id, listeners);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.exitListeners.get(id) === listeners) this.exitListeners.delete(id);
    };
  }

  findImage(ref: string): Promise<ImageConfig | undefined> {
    return this.imageInspects.run(ref, () => this.inspectImage(ref));
  }

  private async inspectImage(ref: string): Promise<ImageConfig | undefined> {
    try {
      const img = await this.docker.getImage(ref).inspect();
      const cfg = img.Config as { Entrypoint?: string | string[] | null; Cmd?: string[] | null; StopSignal?: string } | undefined;
      return {
        id: img.Id,
        entrypoint: asList(cfg?.Entrypoint),
        cmd: asList(cfg?.Cmd),
        ...(cfg?.StopSignal ? { stopSignal: cfg.StopSignal } : {}),
        sizeBytes: img.Size,
      };
    } catch (err) {
      if (asEngineError(err).statusCode === 404) return undefined;
      throw this.wrap(err, `inspect image ${ref}`);
    }
  }

  async pullImage(image: ImageRef, onProgress: (p: PullProgress) => void, signal: AbortSignal, taskAuth?: TaskPullAuth): Promise<void> {
    const tracker = new PullProgressTracker(image.ref);
    const credentials = await this.pullCredentials(image, taskAuth);
    try {
      await this.pullWithRefusal(image, credentials, tracker, onProgress, signal);
    } catch (err) {
      if (credentials?.ecrRegion === undefined || !isRuntimeError(err, 'pull-denied')) throw err;
      // A cached ECR token the registry refused (revoked, role changed): once more with a fresh one.
      await this.pullWithRefusal(image, await this.pullCredentials(image, taskAuth), tracker, onProgress, signal);
    }
  }

  /** One pull; credentials the registry refuses are reported to their source (which drops a cached token). */
  private async pullWithRefusal(
    image: ImageRef,
    credentials: RegistryCredentials | undefined,
    tracker: PullProgressTracker,
    onProgress: (p: PullProgress) => void,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.pullWith(image, credentials === undefined ? undefined : engineAuthConfig(credentials), tracker, onProgress, signal);
    } catch (err) {
      if (credentials !== undefined && isRuntimeError(err, 'pull-denied')) this.credentials?.refused(credentials);
      throw err;
    }
  }

  private async pullWith(
    image: ImageRef,
    authconfig: Record<string, string> | undefined,
    tracker: PullProgressTracker,
    onProgress: (p: PullProgress) => void,
    signal: AbortSignal,
  ): Promise<void> {
    let stream: Readable;
    try {
      stream = (await this.docker.createImage({
        fromImage: image.repository,
        tag: image.digest ?? image.tag ?? 'latest',
        abortSignal: signal,
        // Sent as the X-Registry-Auth header; dockerode never puts it in an error.
        ...(authconfig === undefined ? {} : { authconfig }),
      })) as Readable;
    } catch (err) {
      throw this.classifyPullError(err, image.ref, signal);
    }
    await readPullStream(stream, tracker, onProgress, signal).catch((err: unknown) => {
      throw this.classifyPullError(err, image.ref, signal);
    });
  }

  /** The credentials for this pull, or undefined for an anonymous one. Errors name the source, never a secret. */
  private async pullCredentials(image: ImageRef, taskAuth: TaskPullAuth | undefined): Promise<RegistryCredentials | undefined> {
    if (this.credentials === undefined) return undefined;
    try {
      return await this.credentials.credentialsFor(image.repository, taskAuth);
    } catch (err) {
      const msg = `pull ${image.ref}: no registry credentials: ${errorMessage(err)}`;
      const denied = err instanceof RegistryAuthError && err.denied;
      throw new RuntimeError(denied ? 'pull-denied' : 'pull-failed', msg, { cause: err });
    }
  }

  /**
   * With a storage size, the engine is asked to enforce it; an engine whose
   * storage driver cannot is asked once more without it, and from then on the
   * size is only accounted (diskQuota() says so).
   */
  async createContainer(spec: ContainerSpec): Promise<string> {
    const limited = spec.storageSizeBytes !== undefined && this.quota.shouldLimit();
    try {
      const id = await this.create(spec, limited);
      if (limited) await this.quota.accepted();
      return id;
    } catch (err) {
      const message = engineMessage(err);
      if (!limited || asEngineError(err).statusCode === undefined || !isStorageSizeUnsupported(message)) throw this.createError(err, spec);
      await this.quota.refused(message);
      try {
        return await this.create(spec, false);
      } catch (again) {
        throw this.createError(again, spec);
      }
    }
  }

  private async create(spec: ContainerSpec, limited: boolean): Promise<string> {
    const c = await this.creates.run(() => this.docker.createContainer(createRequest(spec, limited)));
    return c.id;
  }

  private createError(err: unknown, spec: ContainerSpec): RuntimeError {
    const status = asEngineError(err).statusCode;
    if (status === 409) return new RuntimeError('conflict', `container ${spec.name} already exists`, { cause: err });
    if (status === 404) return new RuntimeError('image-not-found', `image ${spec.image} is not present`, { cause: err });
    if (isUnreachable(err)) this.quota.forget();
    return this.wrap(err, `create container ${spec.name}`);
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.starts.run(() => this.docker.getContainer(id).start());
    } catch (err) {
      const msg = engineMessage(err);
      const status = asEngineError(err).statusCode;
      // The engine has no code for this; its OCI runtime error text is the only signal.
      if ((status === 400 || status === 500) && /executable file not found|no such file or directory|permission denied/.test(msg)) {
        throw new RuntimeError('bad-entrypoint', msg, { cause: err });
      }
      if (status === 304) return; // already started
      throw this.wrap(err, `start container ${id}`);
    }
  }

  async waitContainer(id: string, signal?: AbortSignal, exitCodeOnly?: () => boolean): Promise<ContainerExit> {
    const c = this.docker.getContainer(id);
    // Its init's pid while it still runs, in case the engine misses an OOM kill (kernel-oom-log.ts).
    const initPid = c.inspect().then((i) => i.State.Pid, () => 0);
    let status: number;
    let waitError: string | undefined;
    try {
      const res = (await c.wait(signal !== undefined ? { abortSignal: signal } : {})) as { StatusCode: number; Error?: { Message?: string } | null };
      status = res.StatusCode;
      const message = res.Error?.Message;
      waitError = message !== undefined && message !== '' ? message : undefined;
    } catch (err) {
      throw this.wrap(err, `wait for container ${id}`);
    }
    if (exitCodeOnly?.() === true) return { exitCode: status, oomKilled: false, ...(waitError !== undefined ? { error: waitError } : {}) };
    let state: Docker.ContainerInspectInfo['State'];
    try {
      state = (await c.inspect()).State;
    } catch (err) {
      if (asEngineError(err).statusCode === 404) return { exitCode: status, oomKilled: false };
      throw this.wrap(err, `inspect container ${id}`);
    }
    const exitCode = state.ExitCode ?? status;
    const oomKilled =
      state.OOMKilled === true ||
      (exitCode === SIGKILL_EXIT && (await this.oomEvidence.sawOomKill({ id, pid: await initPid, startedAtMs: Date.parse(state.StartedAt) })));
    return { exitCode, oomKilled, ...(state.Error ? { error: state.Error } : {}) };
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: graceSeconds });
    } catch (err) {
      const status = asEngineError(err).statusCode;
      if (status === 304 || status === 404) return; // already stopped, or gone
      throw this.wrap(err, `stop container ${id}`);
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const e = asEngineError(err);
      if (e.statusCode === 404) return;
      if (e.statusCode === 409 && /already in progress/.test(engineMessage(err))) return;
      throw this.wrap(err, `remove container ${id}`);
    }
  }

  async containerOutput(id: string, maxBytes: number): Promise<string> {
    try {
      const raw = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, tail: 1000 })) as unknown;
      const text = demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
      return text.length > maxBytes ? text.slice(text.length - maxBytes) : text;
    } catch (err) {
      throw this.wrap(err, `read output of container ${id}`);
    }
  }

  async *followOutput(id: string, options: FollowOutputOptions): AsyncGenerator<readonly ContainerOutputLine[]> {
    const copied = new ResumeFilter(undefined);
    // dockerd has copied all of a container's output into its log before it reports the
    // container stopped: once the caller knows it exited, the plain read below completes the copy.
    const follow = options.exited === undefined ? options.signal : AbortSignal.any([options.signal, options.exited]);
    for await (const batch of this.outputStream(id, { ...options, signal: follow })) yield copied.fresh(batch);
    if (options.signal.aborted) return;
    // dockerd 20.10 can end a follow at the container's exit before it has sent the whole
    // log (seen: 30,000 of 200,000 lines). A plain read of the rest makes the copy complete.
    const point = copied.point();
    copied.restart();
    const sinceMs = point !== undefined ? timestampToMs(point.timestamp) : options.sinceMs;
    const rest = copied.fresh(await this.outputSince(id, sinceMs));
    if (rest.length > 0) yield rest;
  }

  /** The engine's follow stream of the container's output, as line batches. */
  private async *outputStream(id: string, options: FollowOutputOptions): AsyncGenerator<readonly ContainerOutputLine[]> {
    const { signal } = options;
    if (signal.aborted) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getContainer(id).logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ...sinceQuery(options.sinceMs),
        abortSignal: signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      throw this.outputError(err, id);
    }
    const parser = new OutputFrameParser();
    try {
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        const lines = parser.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        if (lines.length > 0) yield lines;
      }
      const rest = parser.end();
      if (rest.length > 0) yield rest;
    } catch (err) {
      if (signal.aborted) return;
      throw this.wrap(err, `follow output of container ${id}`);
    } finally {
      (stream as Readable).destroy();
    }
  }

  /** The container's output stored by the engine from `sinceMs` (whole seconds) to now. */
  private async outputSince(id: string, sinceMs: number | undefined): Promise<ContainerOutputLine[]> {
    let raw: unknown;
    try {
      raw = await this.docker.getContainer(id).logs({ follow: false, stdout: true, stderr: true, timestamps: true, ...sinceQuery(sinceMs) });
    } catch (err) {
      throw this.outputError(err, id);
    }
    const parser = new OutputFrameParser();
    return [...parser.push(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))), ...parser.end()];
  }

  private outputError(err: unknown, id: string): RuntimeError {
    if (asEngineError(err).statusCode === 404) return new RuntimeError('not-found', `container ${id} does not exist`, { cause: err });
    return this.wrap(err, `read output of container ${id}`);
  }

  async listContainers(labels: Readonly<Record<string, string>>): Promise<ContainerSummary[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    try {
      const list = await this.docker.listContainers({ all: true, filters: JSON.stringify(filters) });
      return list.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        labels: c.Labels,
        state: c.State,
      }));
    } catch (err) {
      throw this.wrap(err, 'list containers');
    }
  }

  async importImage(tarPath: string, options: ImportImageOptions): Promise<string> {
    // `repo:tag`; a colon followed by a slash belongs to a registry port, not a tag.
    const colon = options.ref.lastIndexOf(':');
    const tagged = colon > 0 && !options.ref.slice(colon).includes('/');
    const repo = tagged ? options.ref.slice(0, colon) : options.ref;
    const tag = tagged ? options.ref.slice(colon + 1) : 'latest';
    let stream: Readable;
    try {
      stream = (await this.docker.importImage(createReadStream(tarPath), {
        repo,
        tag,
        // Repeated query parameters, one per change, as the CLI sends them.
        changes: [...options.changes],
        ...(options.message !== undefined ? { message: options.message } : {}),
      } as object)) as Readable;
    } catch (err) {
      throw this.wrap(err, `import image ${options.ref}`);
    }
    const events = await readJsonStream(stream).catch((err: unknown) => {
      throw this.wrap(err, `import image ${options.ref}`);
    });
    const failed = events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
    if (failed !== undefined) {
      throw new RuntimeError('engine', `import image ${options.ref}: ${failed.errorDetail?.message ?? failed.error ?? 'failed'}`);
    }
    const id = [...events].reverse().find((e) => typeof e.status === 'string' && e.status.startsWith('sha256:'))?.status;
    const image = await this.findImage(options.ref);
    if (image === undefined) throw new RuntimeError('engine', `image ${options.ref} is missing right after its import`);
    return id ?? image.id;
  }

  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        state: info.State.Status,
        pid: info.State.Pid ?? 0,
        labels: info.Config.Labels ?? {},
        ...(info.HostsPath ? { hostsPath: info.HostsPath } : {}),
        ...(info.HostnamePath ? { hostnamePath: info.HostnamePath } : {}),
      };
    } catch (err) {
      if (asEngineError(err).statusCode === 404) return undefined;
      throw this.wrap(err, `inspect container ${id}`);
    }
  }

  private classifyPullError(err: unknown, ref: string, signal: AbortSignal): RuntimeError {
    if (signal.aborted) return new RuntimeError('aborted', `pull of ${ref} cancelled`, { cause: err });
    if (err instanceof RuntimeError) return err;
    const status = asEngineError(err).statusCode;
    const msg = engineMessage(err);
    // In-stream errors have no status code; the registry's wording is all there is.
    if (status === 404 || /not found|manifest unknown|repository does not exist|invalid reference format/i.test(msg)) {
      return new RuntimeError('image-not-found', `image ${ref} not found: ${msg}`, { cause: err });
    }
    if (isUnreachable(err)) return this.wrap(err, `pull ${ref}`);
    // The registry refused the credentials (or their absence): the same pull again gets the same answer.
    if (status === 401 || status === 403 || PULL_DENIED.test(msg)) {
      return new RuntimeError('pull-denied', `pull ${ref}: ${msg.trim()}`, { cause: err });
    }
    // The engine answered, or the stream carried the registry's error: a known cause, in its words.
    return new RuntimeError('pull-failed', `pull ${ref}: ${msg.trim()}`, { cause: err });
  }

  private wrap(err: unknown, what: string): RuntimeError {
    if (err instanceof RuntimeError) return err;
    if (isUnreachable(err)) {
      return new RuntimeError('engine-unavailable', `container engine at ${this.host} unreachable during ${what}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return new RuntimeError('engine', `${what}: ${engineMessage(err)}`, { cause: err });
  }
}

/** Reads the newline-delimited JSON pull stream, reporting progress at most every 250 ms. */
const readPullStream = (
  stream: Readable,
  tracker: PullProgressTracker,
  onProgress: (p: PullProgress) => void,
  signal: AbortSignal,
): Promise<void> =>
  new Promise((resolve, reject) => {
    let buffered = '';
    let lastReport = 0;
    let failed: string | undefined;
    const onAbort = (): void => {
      stream.destroy();
      reject(new RuntimeError('aborted', 'pull cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) failed ??= applyLine(tracker, line);
      const now = Date.now();
      if (now - lastReport >= 250) {
        lastReport = now;
        onProgress(tracker.snapshot());
      }
    });
    stream.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    stream.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      failed ??= applyLine(tracker, buffered);
      if (failed !== undefined) return reject(new Error(failed));
      onProgress(tracker.snapshot());
      resolve();
    });
  });

interface EngineStreamEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Collects a newline-delimited JSON progress stream (import, build) to its end. */
const readJsonStream = (stream: Readable): Promise<EngineStreamEvent[]> =>
  new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    stream.on('error', reject);
    stream.on('end', () => {
      const events: EngineStreamEvent[] = [];
      for (const line of text.split(/\r?\n/)) {
        if (line.trim() === '') continue;
        try {
          events.push(JSON.parse(line) as EngineStreamEvent);
        } catch {
          events.push({ error: `unexpected engine output: ${line.slice(0, 200)}` });
        }
      }
      resolve(events);
    });
  });

const applyLine = (tracker: PullProgressTracker, line: string): string | undefined => {
  if (line.trim() === '') return undefined;
  try {
    return tracker.apply(JSON.parse(line) as PullStreamEvent);
  } catch {
    return undefined; // a torn line carries no decision
  }
};

/**
 * Without a TTY the engine frames each write: one byte of stream (1 stdout,
 * 2 stderr), three of padding, a big-endian uint32 length, then the bytes.
 */
export const demuxLogs = (buf: Buffer): string => {
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const stream = buf[off];
    const size = buf.readUInt32BE(off + 4);
    if ((stream !== 0 && stream !== 1 && stream !== 2) || off + 8 + size > buf.length) break;
    parts.push(buf.subarray(off + 8, off + 8 + size));
    off += 8 + size;
  }
  // Anything unframed (a TTY container) is passed through as-is.
  if (off < buf.length) parts.push(buf.subarray(off));
  return Buffer.concat(parts).toString('utf8');
};

/**
 * dockerode copies every create option into the query string as well as the
 * body unless `_query` and `_body` are given apart; a large command or
 * capability list then overflows the engine's 1 MiB header limit (HTTP 431).
 * Only the name belongs in the query.
 */
const createRequest = (spec: ContainerSpec, limited: boolean): Docker.ContainerCreateOptions =>
  ({ _query: { name: spec.name }, _body: toCreateOptions(spec, limited) }) as Docker.ContainerCreateOptions;

const toCreateOptions = (spec: ContainerSpec, limited: boolean): Docker.ContainerCreateOptions => ({
  name: spec.name,
  Image: spec.image,
  Entrypoint: [...spec.entrypoint],
  Cmd: [...spec.cmd],
  Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
  Labels: { ...spec.labels },
  ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}),
  ...(spec.workingDir !== undefined ? { WorkingDir: spec.workingDir } : {}),
  ...(spec.networkDisabled === true ? { NetworkDisabled: true } : {}),
  HostConfig: {
    CpuShares: spec.cpuShares,
    ...(spec.cpuQuotaUs !== undefined ? { CpuQuota: spec.cpuQuotaUs, CpuPeriod: spec.cpuPeriodUs } : {}),
    Memory: spec.memoryBytes,
    MemorySwap: spec.memorySwapBytes,
    PidsLimit: spec.pidsLimit,
    Ulimits: spec.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
    ...(spec.shmSizeBytes !== undefined ? { ShmSize: spec.shmSizeBytes } : {}),
    Tmpfs: { ...spec.tmpfs },
    Init: spec.init,
    SecurityOpt: [...spec.securityOpt],
    CapAdd: [...spec.capAdd],
    CapDrop: [...spec.capDrop],
    OomScoreAdj: spec.oomScoreAdj,
    NetworkMode: spec.networkMode,
    ...(spec.mounts !== undefined && spec.mounts.length > 0
      ? { Mounts: spec.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly === true })) }
      : {}),
    ...(spec.runtime !== undefined ? { Runtime: spec.runtime } : {}),
    ...(spec.devices !== undefined && spec.devices.length > 0
      ? { Devices: spec.devices.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions })) }
      : {}),
    // In bytes: the engine parses it as a size (RAMInBytes).
    ...(limited && spec.storageSizeBytes !== undefined ? { StorageOpt: { size: String(spec.storageSizeBytes) } } : {}),
    ...(spec.readOnlyRootfs === true ? { ReadonlyRootfs: true } : {}),
  },
});

/** 128 + SIGKILL: how a process killed by the kernel (or by a stop's grace running out) exits. */
const SIGKILL_EXIT = 137;

/** The engine filters output by whole seconds; the caller drops what it already has. */
const sinceQuery = (sinceMs: number | undefined): { since?: number } =>
  sinceMs !== undefined ? { since: Math.floor(sinceMs / 1000) } : {};
