import type * as StsSdk from '@aws-sdk/client-sts';
import type { STSClient, STSClientConfig } from '@aws-sdk/client-sts';
import type { RoleCredentials } from './types.js';

/** Static host credentials or a provider of them, as the SDK takes them. */
export type HostCredentials = NonNullable<STSClientConfig['credentials']>;

export interface AssumeRoleRequest {
  readonly roleArn: string;
  readonly sessionName: string;
  readonly durationSeconds: number;
}

/** The one thing the proxy needs from STS; tests may also substitute it. */
export interface RoleAssumer {
  assumeRole(request: AssumeRoleRequest): Promise<RoleCredentials>;
}

/** A failed AssumeRole, with STS's error code when STS answered (AccessDenied, …). */
export class AssumeRoleError extends Error {
  constructor(
    readonly stsCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'AssumeRoleError';
  }
}

export interface StsRoleAssumerOptions {
  readonly region: string | (() => Promise<string>);
  readonly endpoint?: string;
  /**
   * The host's credentials, used only to sign AssumeRole. Unset: the SDK's
   * default chain on the host. They are never returned to a task.
   */
  readonly hostCredentials?: HostCredentials;
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
}

/**
 * The SDK module, imported when a role is first assumed: a proxy whose tasks
 * never ask for credentials does not load it (some tens of MiB, issue 15).
 */
let stsSdk: Promise<typeof StsSdk> | undefined;
const loadStsSdk = (): Promise<typeof StsSdk> => (stsSdk ??= import('@aws-sdk/client-sts'));

/** AssumeRole through the AWS SDK (STS Query API); the client is made on the first AssumeRole. */
export class StsRoleAssumer implements RoleAssumer {
  private client: STSClient | undefined;
  private destroyed = false;

  constructor(private readonly options: StsRoleAssumerOptions) {}

  async assumeRole(request: AssumeRoleRequest): Promise<RoleCredentials> {
    const sdk = await loadStsSdk();
    const client = this.clientFrom(sdk);
    let out;
    try {
      out = await client.send(
        new sdk.AssumeRoleCommand({ RoleArn: request.roleArn, RoleSessionName: request.sessionName, DurationSeconds: request.durationSeconds }),
      );
    } catch (err) {
      throw toAssumeRoleError(err);
    } finally {
      // A client made or kept past destroy() goes with its one request.
      if (client !== this.client) client.destroy();
    }
    const c = out.Credentials;
    if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined || c.SessionToken === undefined || c.Expiration === undefined) {
      throw new AssumeRoleError('InvalidResponse', 'STS answered AssumeRole without credentials');
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expirationMs: c.Expiration.getTime(),
      assumedRoleId: out.AssumedRoleUser?.AssumedRoleId ?? '',
      assumedRoleArn: out.AssumedRoleUser?.Arn ?? '',
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.client?.destroy();
    this.client = undefined;
  }

  private clientFrom(sdk: typeof StsSdk): STSClient {
    if (this.client !== undefined) return this.client;
    const o = this.options;
    const client = new sdk.STSClient({
      region: o.region,
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      ...(o.hostCredentials === undefined ? {} : { credentials: o.hostCredentials }),
      maxAttempts: o.maxAttempts,
      requestHandler: { requestTimeout: o.requestTimeoutMs, connectionTimeout: o.requestTimeoutMs },
    });
    // After destroy() a late AssumeRole still gets its answer, from a client that is not kept.
    if (!this.destroyed) this.client = client;
    return client;
  }
}

/**
 * Only the error's name and message travel on (into logs and task status):
 * SDK errors also carry the raw response, which is not for logs.
 */
const toAssumeRoleError = (err: unknown): AssumeRoleError => {
  if (err instanceof Error) {
    const code = err.name === 'Error' ? 'NetworkError' : err.name;
    return new AssumeRoleError(code, `AssumeRole failed: ${code}: ${err.message}`);
  }
  return new AssumeRoleError('Unknown', `AssumeRole failed: ${String(err)}`);
};

const MAX_SESSION_NAME = 64;

/** `titus-<taskId>` in STS's RoleSessionName alphabet ([\w+=,.@-]), at most 64 characters. */
export const sessionNameFor = (taskId: string): string =>
  `titus-${taskId}`.replace(/[^\w+=,.@-]/g, '_').slice(0, MAX_SESSION_NAME);

/** The role name IMDS lists under iam/security-credentials/: the ARN's last path component. */
export const roleNameOf = (roleArn: string): string => {
  const resource = roleArn.split(':').slice(5).join(':');
  const name = resource.split('/').pop() ?? '';
  return name === '' ? roleArn : name;
};

/** The account of an ARN (arn:aws:iam::123456789012:role/x), if it has one. */
export const accountOf = (roleArn: string): string | undefined => {
  const account = roleArn.split(':')[4];
  return account !== undefined && /^\d{12}$/.test(account) ? account : undefined;
};
