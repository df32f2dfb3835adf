/**
 * The few Engine API calls the harness makes itself rather than through the
 * docker CLI: a classic-builder build, because `docker import`/`commit`
 * --change reject STOPSIGNAL, and the CLI's own legacy builder is deprecated.
 */
import { request } from 'node:http';

interface ApiResponse {
  readonly status: number;
  readonly body: string;
}

const engineRequest = (socket: string, method: string, path: string, body?: Buffer, contentType?: string): Promise<ApiResponse> =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) headers['Content-Length'] = body.length;
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    const req = request({ socketPath: socket, method, path, headers, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
    req.end(body);
  });

interface BuildMessage {
  readonly error?: string;
  readonly stream?: string;
  readonly aux?: { readonly ID?: string };
}

/** With q=1 the classic builder's only output is the image id, as a stream line. */
const imageIdIn = (msg: BuildMessage): string | undefined =>
  msg.aux?.ID ?? /^(sha256:[0-9a-f]{64})\s*$/.exec(msg.stream ?? '')?.[1];

/**
 * Builds `contextTar` (a tar holding a Dockerfile) with the classic builder
 * and tags it `ref`; returns the image id. A build error arrives inside a 200
 * response's JSON stream, so the stream is checked line by line.
 */
export const buildImage = async (socket: string, contextTar: Buffer, ref: string): Promise<string> => {
  const query = new URLSearchParams({ t: ref, q: '1', rm: '1', forcerm: '1', version: '1' });
  const res = await engineRequest(socket, 'POST', `/build?${query.toString()}`, contextTar, 'application/x-tar');
  if (res.status !== 200) throw new Error(`build of ${ref} failed with HTTP ${res.status}: ${res.body}`);
  let id: string | undefined;
  for (const line of res.body.split('\n')) {
    if (line.trim() === '') continue;
    const msg = JSON.parse(line) as BuildMessage;
    if (msg.error !== undefined) throw new Error(`build of ${ref} failed: ${msg.error}`);
    id = imageIdIn(msg) ?? id;
  }
  if (id === undefined) throw new Error(`build of ${ref} reported no image id: ${res.body}`);
  return id;
};
