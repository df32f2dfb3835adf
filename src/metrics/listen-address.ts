import { ExecutorError } from '../common/errors.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `127.0.0.1:9273`, `[::1]:9273` or `0.0.0.0:9273`; port 0 picks a free one (tests). */
export const parseListenAddress = (address: string): ListenAddress => {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new ExecutorError('INVALID_ARGUMENT', `metrics.listen: "${address}" is not host:port (e.g. 127.0.0.1:9273 or [::1]:9273)`);
  }
  return { host, port };
};
