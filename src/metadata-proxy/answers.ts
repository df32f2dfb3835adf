/** One HTTP answer of the proxy, built by the route handlers and written by the server. */
export interface Answer {
  readonly status: number;
  readonly body: string | Uint8Array;
  readonly contentType: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** What is logged for this request instead of its path (never a path a client made up). */
  readonly route: string;
}

const TEXT = 'text/plain; charset=utf-8';

export const text = (route: string, body: string, headers?: Record<string, string>): Answer => ({
  status: 200,
  body,
  contentType: TEXT,
  route,
  ...(headers === undefined ? {} : { headers }),
});

/** IMDS serves its JSON documents as text/plain, and clients expect exactly that. */
export const imdsJson = (route: string, value: unknown): Answer => text(route, JSON.stringify(value, null, 2));

export const json = (route: string, value: unknown): Answer => ({
  status: 200,
  body: JSON.stringify(value),
  contentType: 'application/json',
  route,
});

export const status = (code: number, route: string, message: string, headers?: Record<string, string>): Answer => ({
  status: code,
  body: `${code} - ${message}\n`,
  contentType: TEXT,
  route,
  ...(headers === undefined ? {} : { headers }),
});

export const notFound = (route = 'not-found'): Answer => status(404, route, 'Not Found');

export const denied = (route: string): Answer => status(403, route, 'Forbidden: denied by the titus metadata proxy');

/** IMDS timestamps: ISO 8601 in UTC without milliseconds. */
export const imdsTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
