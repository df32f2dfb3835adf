import { z } from 'zod';

/**
 * The registry-credentials slice of the executor config (`docker.auth`).
 * Nothing here is a secret itself: secrets live in the auths file, behind
 * credential helpers, or come from ECR at pull time.
 */
export const registryAuthConfigSchema = z
  .object({
    /**
     * A Docker `config.json`: `auths` (`auth` = base64 user:password, or
     * username/password, or identitytoken), `credHelpers` and `credsStore`.
     * Read again at every pull, so credentials can be rotated without a restart.
     */
    authsFile: z.string().min(1).optional(),
    /** Directories searched for `docker-credential-<name>` before PATH. */
    credentialHelperDirs: z.array(z.string().min(1)).default([]),
    /** How long one credential helper may take before the pull fails. */
    credentialHelperTimeoutMs: z.number().int().positive().default(10_000),
    ecr: z
      .object({
        /** Pull from `<account>.dkr.ecr.<region>.amazonaws.com` with a GetAuthorizationToken token. */
        enabled: z.boolean().default(false),
        /** Overrides the ECR endpoint for every region (tests point it at a local fake). */
        endpoint: z.url().optional(),
        /**
         * Registries served by ECR under another name (a DNS alias, a proxy),
         * `host[:port]` -> region; ECR's own host names need no entry.
         */
        aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
        /** A token is fetched again this long before it expires (ECR tokens live 12 h). */
        refreshBeforeExpirySeconds: z.number().int().nonnegative().default(900),
        requestTimeoutMs: z.number().int().positive().default(10_000),
        maxAttempts: z.number().int().min(1).max(10).default(3),
      })
      .prefault({}),
  })
  .strict();

export type RegistryAuthConfig = z.infer<typeof registryAuthConfigSchema>;
