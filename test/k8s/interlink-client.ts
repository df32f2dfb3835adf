/**
 * A plain node:http client for the interLink plugin API on a unix socket,
 * sending JSON bodies on GET the way interLink's Go client does, and the
 * recorded request bodies under fixtures/ with this run's image and pod UID.
 */
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Reply {
  readonly status: number;
  readonly text: string;
  json<T = unknown>(): T;
}

export const call = (socketPath: string, method: string, path: string, body?: unknown): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });

export interface LogFollow {
  /** Resolves with the status line once headers arrive. */
  readonly status: Promise<number>;
  /** Everything received so far. */
  text(): string;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<string>;
  /** Resolves once the received text matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** GET /getLogs kept open, for follow. */
export const follow = (socketPath: string, body: unknown): LogFollow => {
  const payload = JSON.stringify(body);
  let received = '';
  const watchers = new Set<() => void>();
  let resolveStatus!: (n: number) => void;
  const status = new Promise<number>((r) => (resolveStatus = r));
  let req!: ReturnType<typeof request>;
  const ended = new Promise<string>((resolve, reject) => {
    req = request(
      { socketPath, method: 'GET', path: '/getLogs', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        resolveStatus(res.statusCode ?? 0);
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          received += c;
          for (const w of [...watchers]) w();
        });
        res.on('end', () => resolve(received));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
  ended.catch(() => undefined);
  return {
    status,
    text: () => received,
    ended,
    waitFor: (re, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`log stream did not match ${String(re)} within ${timeoutMs} ms; got ${JSON.stringify(received)}`));
        }, timeoutMs);
        const check = (): void => {
          if (!re.test(received)) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
      }),
    close: () => req.destroy(),
  };
};

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A recorded body with `__IMAGE__` and `__UID__` filled in; a fresh UID unless one is given. */
export const fixture = <T = Record<string, unknown>>(name: string, image: string, uid: string = randomUUID()): T =>
  JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8').replaceAll('__IMAGE__', image).replaceAll('__UID__', uid)) as T;
