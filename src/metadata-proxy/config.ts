import { isIP } from 'node:net';
import { METADATA_IPV4 } from '../common/metadata-address.js';
import { z } from 'zod';

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const ipAddress = z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address');

/**
 * `metadataProxy` in the executor config. Defaults are AWS's; tests point
 * `upstream.url` and `sts.endpoint` at loopback fakes.
 */
export const metadataProxyConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /**
     * Where the proxy listens on the host. Task traffic to 169.254.169.254:80 is
     * redirected here by the nftables rules of nftables.ts (redirect goes to the
     * address of the task's host-side veth, so the default listens on all of them).
     */
    listen: z
      .object({
        hosts: z.array(ipAddress).min(1).default(['0.0.0.0']),
        port: z.number().int().min(0).max(65_535).default(8169),
      })
      .prefault({}),
    /** IMDSv2 only (token-less requests get 401) for every task that does not say otherwise. */
    requireToken: z.boolean().default(false),
    /** Per-request budget; IMDS clients give up after about a second anyway. */
    requestTimeoutMs: z.number().int().positive().default(10_000),
    /** The host's real instance metadata service: only the host's placement is read from it, never iam/. */
    upstream: z
      .object({
        url: httpUrl.default(`http://${METADATA_IPV4}`),
        timeoutMs: z.number().int().positive().default(2_000),
      })
      .prefault({}),
    /** The host's placement; what is unset is read once from the upstream IMDS. */
    placement: z
      .object({
        region: z.string().min(1).optional(),
        availabilityZone: z.string().min(1).optional(),
        availabilityZoneId: z.string().min(1).optional(),
      })
      .prefault({}),
    sts: z
      .object({
        /** Unset: the host's region (placement). */
        region: z.string().min(1).optional(),
        /** Unset: the SDK's regional endpoint, https://sts.<region>.amazonaws.com. */
        endpoint: httpUrl.optional(),
        durationSeconds: z.number().int().min(900).max(43_200).default(3600),
        /** Refresh when this much lifetime is left, or at half-life, whichever comes first. */
        refreshBeforeExpirySeconds: z.number().int().positive().default(900),
        /** How often the background loop looks for credentials to refresh. */
        refreshCheckIntervalSeconds: z.number().positive().default(5),
        /** After a failed AssumeRole, the next try waits this long. */
        retryIntervalSeconds: z.number().positive().default(10),
        /** How long a credentials request waits for a task's first AssumeRole before 503. */
        firstCredentialsWaitMs: z.number().int().positive().default(3_000),
        requestTimeoutMs: z.number().int().positive().default(5_000),
        maxAttempts: z.number().int().min(1).max(10).default(3),
      })
      .prefault({}),
    /** Signed task identity (/nflx/v1/task-identity); off unless a key is configured. */
    identity: z
      .object({
        /** PEM private key: ECDSA (P-256/P-384) or RSA. */
        signingKeyFile: z.string().min(1).optional(),
        /** PEM certificate chain for the key (signer first), published in each document. */
        certificateChainFile: z.string().min(1).optional(),
      })
      .prefault({}),
    /** The accountId in dynamic/instance-identity/document when the role ARN does not tell. */
    accountId: z.string().regex(/^\d{12}$/).optional(),
  })
  .strict();

export type MetadataProxyConfig = z.infer<typeof metadataProxyConfigSchema>;

/** Parses a config section (tests and library users); throws zod's error on a bad value. */
export const parseMetadataProxyConfig = (raw: unknown): MetadataProxyConfig => metadataProxyConfigSchema.parse(raw ?? {});
