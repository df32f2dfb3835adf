import { request } from 'undici';
import type { Logger } from '../common/log.js';
import { errorMessage } from '../common/errors.js';

/** The only things ever read from the host's real IMDS; never iam/, user-data or keys. */
export const PLACEMENT_KEYS = ['region', 'availability-zone', 'availability-zone-id'] as const;
export type PlacementKey = (typeof PLACEMENT_KEYS)[number];

export interface HostPlacementOptions {
  readonly upstreamUrl: string;
  readonly timeoutMs: number;
  readonly configured: Partial<Record<PlacementKey, string>>;
  readonly log: Logger;
}

/** The upstream could not say (down, 404, timeout): the caller answers 503. */
export class PlacementUnavailableError extends Error {
  override readonly name = 'PlacementUnavailableError';
}

/**
 * The host's placement: configured values first, otherwise read once from
 * the upstream IMDS with an IMDSv2 token and cached. Concurrent first reads
 * share one upstream call; a failure is not cached, so the next read retries.
 */
export class HostPlacement {
  private readonly cache = new Map<PlacementKey, string>();
  private readonly inFlight = new Map<PlacementKey, Promise<string>>();

  constructor(private readonly o: HostPlacementOptions) {}

  async get(key: PlacementKey): Promise<string> {
    const known = this.o.configured[key] ?? this.cache.get(key);
    if (known !== undefined) return known;
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.fetch(key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async fetch(key: PlacementKey): Promise<string> {
    try {
      const token = await this.call('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60' });
      const value = (await this.call('GET', `/latest/meta-data/placement/${key}`, { 'x-aws-ec2-metadata-token': token })).trim();
      if (value === '') throw new Error('empty answer');
      this.cache.set(key, value);
      return value;
    } catch (err) {
      this.o.log.warn({ key, err: errorMessage(err) }, 'cannot read the host placement from the upstream instance metadata service');
      throw new PlacementUnavailableError(`host placement ${key} is unavailable`);
    }
  }

  private async call(method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<string> {
    const res = await request(new URL(path, this.o.upstreamUrl), {
      method,
      headers,
      headersTimeout: this.o.timeoutMs,
      bodyTimeout: this.o.timeoutMs,
    });
    const body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${method} ${path}: HTTP ${res.statusCode}`);
    return body;
  }
}
