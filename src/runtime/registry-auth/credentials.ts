/**
 * What the engine needs to pull from one registry: Docker's AuthConfig
 * (X-Registry-Auth). Its values are secrets: never logged, never put in an
 * error message or a task status.
 */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth refresh token (identitytoken in config.json, `<token>` from a helper). */
  readonly identitytoken?: string;
  readonly serveraddress: string;
  /** Where they came from, for logs: "auths file", "credential helper ecr-login", "ECR", "imagePullSecrets". */
  readonly source: string;
  /** Set for an ECR token: the region whose cached token these are. */
  readonly ecrRegion?: string;
}

/** The X-Registry-Auth body, without the `source` we keep for ourselves. */
export const engineAuthConfig = (c: RegistryCredentials): Record<string, string> => {
  const out: Record<string, string> = { serveraddress: c.serveraddress };
  if (c.username !== undefined) out['username'] = c.username;
  if (c.password !== undefined) out['password'] = c.password;
  if (c.identitytoken !== undefined) out['identitytoken'] = c.identitytoken;
  return out;
};

/** Why credentials could not be had. `denied`: asking again will not help (bad file, AccessDenied). */
export class RegistryAuthError extends Error {
  constructor(
    readonly denied: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RegistryAuthError';
  }
}
