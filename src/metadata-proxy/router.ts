import type { IncomingHttpHeaders } from 'node:http';
import { json, notFound, status, text, type Answer } from './answers.js';
import { canonicalAddress } from './addresses.js';
import { signedTaskIdentity } from './identity-document.js';
import type { IdentitySigner } from './identity-signer.js';
import { resolveMetadata, type MetadataSources } from './metadata-tree.js';
import { parseRequestPath } from './request-path.js';
import { parseTokenTtl, type TokenIssuer } from './tokens.js';
import type { Clock, TaskDirectory, TaskIdentityInfo } from './types.js';

/** What the router needs of a request; the server fills it from node:http. */
export interface ProxyRequest {
  readonly method: string;
  readonly target: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** The TCP peer: what says who is asking on the shared listeners. */
  readonly remoteAddress: string | undefined;
  /**
   * Set when the request came in on a listener inside one task's own network
   * namespace (an ENI task): that task is the caller, whatever the peer
   * address (inside the namespace it is the task's own, or 169.254.169.254).
   */
  readonly boundTaskId?: string;
}

export interface RoutedAnswer extends Answer {
  readonly taskId?: string;
}

export interface RouterDeps {
  readonly directory: TaskDirectory;
  readonly tokens: TokenIssuer;
  readonly sources: MetadataSources;
  readonly signer: IdentitySigner | undefined;
  readonly clock: Clock;
  readonly requireTokenByDefault: boolean;
}

const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const VERSION = /^(latest|1\.0|\d{4}-\d{2}-\d{2})$/;

/**
 * Decides every answer. Order matters: the caller is identified from the TCP
 * peer address before anything else is looked at, the path is parsed strictly
 * before any handler sees it, and the token rules apply to every read.
 * Headers a client controls (Host, X-Forwarded-For, X-Real-IP, Forwarded)
 * never select a task.
 */
export const routeRequest = async (req: ProxyRequest, deps: RouterDeps): Promise<RoutedAnswer> => {
  const task = callerOf(req, deps.directory);
  if (task === undefined) return status(403, 'unknown-caller', 'Forbidden: not a task of this host');
  const answer = await routeForTask(req, task, deps);
  return { ...answer, taskId: task.taskId };
};

/** The task asking: the listener's own task, else the one holding the peer address; undefined: nobody known (403). */
const callerOf = (req: ProxyRequest, directory: TaskDirectory): TaskIdentityInfo | undefined => {
  if (req.boundTaskId !== undefined) return directory.taskById(req.boundTaskId);
  const address = canonicalAddress(req.remoteAddress);
  return address === undefined ? undefined : directory.taskByAddress(address);
};

const routeForTask = async (req: ProxyRequest, task: TaskIdentityInfo, deps: RouterDeps): Promise<Answer> => {
  const parsed = parseRequestPath(req.target);
  if (!parsed.ok) return status(400, 'bad-path', 'Bad Request');
  const { segments } = parsed.path;
  if (segments.length === 3 && segments[0] === 'latest' && segments[1] === 'api' && segments[2] === 'token') {
    return req.method === 'PUT' ? issueToken(req, task, deps) : status(405, 'token', 'Method Not Allowed', { Allow: 'PUT' });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return status(405, 'method', 'Method Not Allowed', { Allow: 'GET, HEAD' });
  const tokenCheck = checkToken(req, task, deps);
  if (tokenCheck.refused !== undefined) return tokenCheck.refused;
  const answer = await readPath(req, task, segments, deps);
  return tokenCheck.ttlHeader === undefined ? answer : { ...answer, headers: { ...answer.headers, ...tokenCheck.ttlHeader } };
};

const issueToken = (req: ProxyRequest, task: TaskIdentityInfo, deps: RouterDeps): Answer => {
  // As EC2 does: a token PUT that went through a proxy is an SSRF attempt.
  if (req.headers['x-forwarded-for'] !== undefined) return status(403, 'token', 'Forbidden');
  const ttl = parseTokenTtl(req.headers[TTL_HEADER]);
  if (ttl === undefined) return status(400, 'token', 'Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be 1..21600');
  return text('token', deps.tokens.issue(task.taskId, ttl), { [TTL_HEADER]: String(ttl) });
};

interface TokenCheckResult {
  readonly refused?: Answer;
  readonly ttlHeader?: Record<string, string>;
}

/** A presented token must be valid for this task; without one, the task's (or host's) require setting decides. */
const checkToken = (req: ProxyRequest, task: TaskIdentityInfo, deps: RouterDeps): TokenCheckResult => {
  const presented = req.headers[TOKEN_HEADER];
  if (presented === undefined) {
    const required = task.requireToken ?? deps.requireTokenByDefault;
    return required ? { refused: status(401, 'token-required', 'Unauthorized') } : {};
  }
  const check = typeof presented === 'string' ? deps.tokens.check(task.taskId, presented) : undefined;
  if (check === undefined || !check.valid) return { refused: status(401, 'token-invalid', 'Unauthorized') };
  return { ttlHeader: { [TTL_HEADER]: String(check.remainingSeconds) } };
};

const readPath = async (req: ProxyRequest, task: TaskIdentityInfo, segments: readonly string[], deps: RouterDeps): Promise<Answer> => {
  const [first, ...rest] = segments;
  if (first === undefined) return text('versions', 'latest');
  if (VERSION.test(first)) return resolveMetadata(task, rest, deps.sources);
  if (first === 'nflx' && rest[0] === 'v1' && rest[1] === 'task-identity') return taskIdentity(req, task, rest.slice(2), deps);
  return notFound();
};

const taskIdentity = (req: ProxyRequest, task: TaskIdentityInfo, rest: readonly string[], deps: RouterDeps): Answer => {
  if (deps.signer === undefined) return notFound('task-identity');
  if (rest.length === 1 && rest[0] === 'public-key') {
    return { status: 200, body: deps.signer.publicKeyPem, contentType: 'application/x-pem-file', route: 'task-identity/public-key' };
  }
  if (rest.length !== 0) return notFound();
  // Signing what a restart could only partly re-derive would vouch for a ContainerInfo the host no longer knows.
  if (task.partial === true) return status(503, 'task-identity', 'Service Unavailable: task identity not known since the executor restarted');
  const doc = signedTaskIdentity(task, deps.signer, deps.clock());
  if (wantsJson(req.headers.accept)) return json('task-identity', doc.json);
  return { status: 200, body: doc.protobuf, contentType: 'application/x-protobuf', route: 'task-identity' };
};

const wantsJson = (accept: string | undefined): boolean => accept !== undefined && /\bapplication\/json\b/i.test(accept);
