import type * as EcrSdk from '@aws-sdk/client-ecr';
import type { ECRClient } from '@aws-sdk/client-ecr';
import { RegistryAuthError, type RegistryCredentials } from './credentials.js';

/** ECR's registry host names: `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`. */
const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The region of an ECR registry host, or undefined when the host is not ECR's. */
export const ecrRegionOf = (registry: string, aliases: Readonly<Record<string, string>>): string | undefined =>
  aliases[registry] ?? ECR_HOST.exec(registry)?.[2];

export interface EcrTokenOptions {
  readonly endpoint?: string;
  readonly refreshBeforeExpiryMs: number;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  /** For tests: the time now, in ms. */
  readonly clock?: () => number;
  /** For tests: the AWS credentials; unset, the SDK's default chain (env, profile, instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
}

interface CachedToken {
  readonly username: string;
  readonly password: string;
  readonly expiresAtMs: number;
}

/**
 * The SDK module, imported on the first token fetched: an executor that never
 * pulls from ECR does not load it (some tens of MiB of memory, issue 15).
 */
let ecrSdk: Promise<typeof EcrSdk> | undefined;
const loadEcrSdk = (): Promise<typeof EcrSdk> => (ecrSdk ??= import('@aws-sdk/client-ecr'));

/** AWS SDK errors that asking again will not fix. */
const DENIED = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException']);

/**
 * GetAuthorizationToken through the real @aws-sdk/client-ecr, with the
 * executor's own AWS credentials. One token per region (ECR's tokens are per
 * region and cover every registry the principal may read), cached until
 * `refreshBeforeExpiryMs` before it expires; concurrent pulls share one call.
 */
export class EcrTokenSource {
  private readonly clients = new Map<string, ECRClient>();
  private readonly cache = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<CachedToken>>();
  private readonly clock: () => number;

  constructor(private readonly o: EcrTokenOptions) {
    this.clock = o.clock ?? Date.now;
  }

  async credentialsFor(registry: string, region: string): Promise<RegistryCredentials> {
    const token = await this.tokenFor(region);
    return { username: token.username, password: token.password, serveraddress: registry, source: `ECR (${region})`, ecrRegion: region };
  }

  /** Drops the region's cached token (the registry refused it: revoked, or the role changed). */
  forget(region: string): void {
    this.cache.delete(region);
  }

  private async tokenFor(region: string): Promise<CachedToken> {
    const cached = this.cache.get(region);
    if (cached !== undefined && this.clock() < cached.expiresAtMs - this.o.refreshBeforeExpiryMs) return cached;
    let pending = this.inFlight.get(region);
    if (pending === undefined) {
      pending = this.fetch(region).finally(() => this.inFlight.delete(region));
      this.inFlight.set(region, pending);
    }
    const token = await pending;
    this.cache.set(region, token);
    return token;
  }

  private async fetch(region: string): Promise<CachedToken> {
    const sdk = await loadEcrSdk();
    let out;
    try {
      out = await this.client(sdk, region).send(new sdk.GetAuthorizationTokenCommand({}));
    } catch (err) {
      const name = (err as { name?: string }).name ?? 'Error';
      const message = (err as { message?: string }).message ?? '';
      throw new RegistryAuthError(DENIED.has(name), `ECR GetAuthorizationToken in ${region} failed: ${name}: ${message}`, { cause: err });
    }
    const data = out.authorizationData?.[0];
    if (data?.authorizationToken === undefined) throw new RegistryAuthError(false, `ECR GetAuthorizationToken in ${region} answered without a token`);
    const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new RegistryAuthError(false, `ECR GetAuthorizationToken in ${region} answered a token that is not base64 of user:password`);
    // Without an expiry, ECR's documented 12 hours.
    const expiresAtMs = data.expiresAt?.getTime() ?? this.clock() + 12 * 3600_000;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), expiresAtMs };
  }

  private client(sdk: typeof EcrSdk, region: string): ECRClient {
    let c = this.clients.get(region);
    if (c === undefined) {
      c = new sdk.ECRClient({
        region,
        ...(this.o.endpoint === undefined ? {} : { endpoint: this.o.endpoint }),
        ...(this.o.credentials === undefined ? {} : { credentials: this.o.credentials }),
        maxAttempts: this.o.maxAttempts,
        requestHandler: { requestTimeout: this.o.requestTimeoutMs, connectionTimeout: this.o.requestTimeoutMs },
      });
      this.clients.set(region, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}
