import type { RegistryAuthConfig } from './config.js';
import { runCredentialHelper } from './credential-helper.js';
import { RegistryAuthError, type RegistryCredentials } from './credentials.js';
import { lookUp, readDockerConfig, type DockerConfig } from './docker-config.js';
import { EcrTokenSource, ecrRegionOf, type EcrTokenOptions } from './ecr-token.js';
import { registryOf } from './registry-host.js';

/** Credentials one task brings for its own pulls (a pod's imagePullSecrets), as a config.json file. */
export interface TaskPullAuth {
  /** A Docker config.json (mode 0600) holding only `auths`. */
  readonly authsFile: string;
}

/** How the runtime asks for a pull's credentials; undefined: pull anonymously. */
export interface PullCredentialSource {
  credentialsFor(repository: string, task?: TaskPullAuth): Promise<RegistryCredentials | undefined>;
  /** The registry refused these: a cached token (ECR) is dropped, so the next pull asks for a new one. */
  refused(credentials: RegistryCredentials): void;
}

/**
 * Credentials for a pull, first found wins:
 *   1. the task's own (imagePullSecrets), which only it may use;
 *   2. the executor's auths file: a credHelpers entry, the credsStore, an auths entry;
 *   3. ECR, for ECR's host names (and configured aliases) when ecr.enabled.
 * Nothing found: an anonymous pull, which a private registry refuses in its own words.
 */
export class RegistryAuth implements PullCredentialSource {
  private readonly ecr: EcrTokenSource | undefined;

  constructor(
    private readonly config: RegistryAuthConfig,
    ecrOverrides: Partial<EcrTokenOptions> = {},
  ) {
    const e = config.ecr;
    this.ecr = e.enabled
      ? new EcrTokenSource({
          ...(e.endpoint === undefined ? {} : { endpoint: e.endpoint }),
          refreshBeforeExpiryMs: e.refreshBeforeExpirySeconds * 1000,
          requestTimeoutMs: e.requestTimeoutMs,
          maxAttempts: e.maxAttempts,
          ...ecrOverrides,
        })
      : undefined;
  }

  /** Checks the auths file once at start, so a broken one stops the executor rather than every pull. */
  async check(): Promise<void> {
    if (this.config.authsFile !== undefined) await readDockerConfig(this.config.authsFile);
  }

  async credentialsFor(repository: string, task?: TaskPullAuth): Promise<RegistryCredentials | undefined> {
    const registry = registryOf(repository);
    if (task !== undefined) {
      const own = await this.fromConfig(await readDockerConfig(task.authsFile), registry, 'imagePullSecrets');
      if (own !== undefined) return own;
    }
    if (this.config.authsFile !== undefined) {
      const found = await this.fromConfig(await readDockerConfig(this.config.authsFile), registry, 'auths file');
      if (found !== undefined) return found;
    }
    const region = this.ecr === undefined ? undefined : ecrRegionOf(registry, this.config.ecr.aliases);
    if (this.ecr !== undefined && region !== undefined) return this.ecr.credentialsFor(registry, region);
    return undefined;
  }

  refused(credentials: RegistryCredentials): void {
    const region = credentials.ecrRegion;
    if (region !== undefined) this.ecr?.forget(region);
  }

  private async fromConfig(config: DockerConfig, registry: string, source: string): Promise<RegistryCredentials | undefined> {
    const answer = lookUp(config, registry, source);
    if (answer.kind === 'credentials') return answer.credentials;
    if (answer.kind === 'helper') {
      return runCredentialHelper(answer.helper, registry, {
        dirs: this.config.credentialHelperDirs,
        timeoutMs: this.config.credentialHelperTimeoutMs,
      });
    }
    return undefined;
  }

  close(): void {
    this.ecr?.close();
  }
}

export { RegistryAuthError };
