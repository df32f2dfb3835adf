/**
 * One S3 client per set of credentials the uploads need: the host's own (the
 * SDK's default chain), or a role assumed through STS (AssumeRole, session
 * `titus-<taskId>`, as Titus' uploader did), cached until shortly before it
 * expires. Credentials are never logged.
 *
 * The SDK clients (some tens of MiB once loaded) are imported on the first
 * upload, so an executor that has nothing to upload never loads them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { STSClient } from '@aws-sdk/client-sts';
import type { LogUploadConfig } from './config.js';
import { loadS3Sdk, loadStsSdk } from './s3-sdk.js';

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date };
/** What the SDK takes as credentials: static ones or a provider (tests give static ones). */
export type HostCredentials = Credentials | (() => Promise<Credentials>);

/** Refresh an assumed role this long before it expires. */
const REFRESH_BEFORE_MS = 5 * 60_000;

export class S3Clients {
  private readonly clients = new Map<string, S3Client>();
  private readonly assumed = new Map<string, Promise<Credentials>>();
  private sts: STSClient | undefined;

  constructor(
    private readonly config: LogUploadConfig,
    private readonly hostCredentials?: HostCredentials,
  ) {}

  /** The client for uploads as `roleArn` (assumed with `sessionName`), or as the host when undefined. */
  async clientFor(roleArn: string | undefined, sessionName: string): Promise<S3Client> {
    const { S3Client } = await loadS3Sdk();
    const id = roleArn === undefined ? '' : `${roleArn}\n${sessionName}`;
    let client = this.clients.get(id);
    if (client === undefined) {
      const credentials = roleArn === undefined ? this.hostCredentials : (): Promise<Credentials> => this.assume(roleArn, sessionName);
      client = new S3Client({
        region: this.config.region,
        ...(this.config.endpoint !== undefined ? { endpoint: this.config.endpoint } : {}),
        forcePathStyle: this.config.forcePathStyle,
        ...(credentials !== undefined ? { credentials } : {}),
        maxAttempts: this.config.requestMaxAttempts,
        requestHandler: { requestTimeout: this.config.requestTimeoutMs, connectionTimeout: this.config.requestTimeoutMs },
      });
      this.clients.set(id, client);
    }
    return client;
  }

  /** Forgets the clients of a task's own role once its logs are up. */
  forget(roleArn: string | undefined, sessionName: string): void {
    if (roleArn === undefined) return;
    const id = `${roleArn}\n${sessionName}`;
    this.clients.get(id)?.destroy();
    this.clients.delete(id);
    this.assumed.delete(id);
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
    this.assumed.clear();
    this.sts?.destroy();
  }

  private assume(roleArn: string, sessionName: string): Promise<Credentials> {
    const id = `${roleArn}\n${sessionName}`;
    const cached = this.assumed.get(id);
    const fresh = cached?.then((c) => c.expiration === undefined || c.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS).catch(() => false);
    const next = (async (): Promise<Credentials> => {
      if (cached !== undefined && (await fresh) === true) return cached;
      const { AssumeRoleCommand } = await loadStsSdk();
      const out = await (await this.stsClient()).send(
        new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: this.config.sts.durationSeconds }),
      );
      const c = out.Credentials;
      if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined || c.SessionToken === undefined) {
        throw new Error(`STS answered AssumeRole of ${roleArn} without credentials`);
      }
      return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, ...(c.Expiration !== undefined ? { expiration: c.Expiration } : {}) };
    })();
    // A failed AssumeRole is not cached: the next request (after the pass's back-off) tries again.
    this.assumed.set(id, next);
    next.catch(() => {
      if (this.assumed.get(id) === next) this.assumed.delete(id);
    });
    return next;
  }

  private async stsClient(): Promise<STSClient> {
    const { STSClient } = await loadStsSdk();
    this.sts ??= new STSClient({
      region: this.config.sts.region ?? this.config.region,
      ...(this.config.sts.endpoint !== undefined ? { endpoint: this.config.sts.endpoint } : {}),
      ...(this.hostCredentials !== undefined ? { credentials: this.hostCredentials } : {}),
      maxAttempts: this.config.requestMaxAttempts,
      requestHandler: { requestTimeout: this.config.requestTimeoutMs, connectionTimeout: this.config.requestTimeoutMs },
    });
    return this.sts;
  }
}
