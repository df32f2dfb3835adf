import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { loadExecutorProto } from '../api/proto.js';
import type { TitusExecutorClient } from '../proto/generated/titus/executor/v1/TitusExecutor.js';

export const DEFAULT_SOCKET = '/run/titus-executor/executor.sock';

export interface ClientOptions {
  readonly socket?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

/** `unix:///p`, a socket path, or `host:port` (TCP; mTLS when certificates are given). */
export const targetFor = (socket: string | undefined): string => {
  const s = socket ?? process.env['TITUS_EXECUTOR_SOCKET'] ?? DEFAULT_SOCKET;
  if (s.startsWith('unix:')) return s;
  if (s.startsWith('/') || s.startsWith('.')) return `unix://${s}`;
  return s;
};

export const createClient = (opts: ClientOptions): TitusExecutorClient => {
  const proto = loadExecutorProto();
  const Ctor = proto.grpcType.titus.executor.v1.TitusExecutor;
  const creds =
    opts.tlsCa !== undefined
      ? grpc.credentials.createSsl(
          readFileSync(opts.tlsCa),
          opts.tlsKey !== undefined ? readFileSync(opts.tlsKey) : null,
          opts.tlsCert !== undefined ? readFileSync(opts.tlsCert) : null,
        )
      : grpc.credentials.createInsecure();
  return new Ctor(targetFor(opts.socket), creds);
};

/** Promisifies one unary method of the generated client. */
export const call = <Req, Res>(
  fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
): Promise<Res> =>
  new Promise((resolve, reject) => {
    fn(req, (err, res) => (err !== null ? reject(err) : res === undefined ? reject(new Error('empty response')) : resolve(res)));
  });
