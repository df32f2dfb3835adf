import { spawn } from 'node:child_process';
import type { Server } from 'node:net';
import { ExecutorError } from '../common/errors.js';

/**
 * A TCP listening socket created inside another network namespace, for this
 * process to serve.
 *
 * Node cannot enter a namespace itself, but a socket belongs for good to the
 * namespace it was created in, wherever its descriptor goes. So a short-lived
 * helper (`nsenter --net=<path> -- node -e …`) binds and listens there, hands
 * the listening socket over Node's IPC channel (SCM_RIGHTS on the socketpair
 * this process created before the fork, so it works across namespaces), and
 * exits. The returned net.Server accepts connections made in that namespace
 * only; pass it to `http.Server.listen(server)`.
 *
 * This is how the metadata proxy listens in `network.local.hostNetns` (the
 * namespace holding the host side of the task veths) while the proxy itself,
 * its STS client and the executor stay in one process.
 */
export interface NetnsListenOptions {
  /** A network namespace file: `/run/netns/<name>` or `/proc/<pid>/ns/net`. */
  readonly netnsPath: string;
  readonly host: string;
  readonly port: number;
  /** How long the helper may take to bind (default 10 s). */
  readonly timeoutMs?: number;
}

/** The helper's program: bind, listen, send the socket, go. Plain CommonJS so it needs no loader. */
const HELPER = `
const net = require('node:net');
const host = process.argv[1];
const port = Number(process.argv[2]);
const server = net.createServer();
server.once('error', (err) => {
  process.send({ ok: false, error: (err.code ? err.code + ': ' : '') + err.message }, () => process.exit(1));
});
server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
  process.send({ ok: true }, server, () => {
    server.close();
    process.disconnect();
  });
});
`;

interface HelperMessage {
  readonly ok: boolean;
  readonly error?: string;
}

export const listenInNetns = (o: NetnsListenOptions): Promise<Server> => {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const where = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port} in network namespace ${o.netnsPath}`;
  // Whatever loader the parent was started with (tsx under tests) is not needed for plain JS.
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  const child = spawn('nsenter', [`--net=${o.netnsPath}`, '--', process.execPath, '-e', HELPER, o.host, String(o.port)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  return new Promise<Server>((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new ExecutorError('FAILED_PRECONDITION', `cannot listen on ${where}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no socket within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`helper exited (${signal ?? code ?? '?'})${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`));
    child.once('message', (message: HelperMessage, handle: unknown) => {
      if (settled) return;
      if (message.ok !== true || handle === undefined) return fail(message.error ?? 'no socket came back');
      settled = true;
      clearTimeout(timer);
      resolve(handle as Server);
    });
  });
};
