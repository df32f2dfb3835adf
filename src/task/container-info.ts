import { z } from 'zod';
import { LINUX_CAPABILITIES, isLinuxCapability } from './capabilities.js';
import { MAX_ENV_TOTAL_BYTES, envEntryBytes, mapKeyForPath, envProblem } from './env-limits.js';

/**
 * The ContainerInfo fields the executor reads, validated. The object shape is
 * the one protobufjs/proto-loader produce for `messages.ContainerInfo`
 * (camelCase names, enum names as strings, 64-bit values as strings), so a
 * decoded message and a gRPC request body validate the same way.
 */
const stringMap = z.record(z.string(), z.string());

/** Known names arrive as strings; a number is a capability agent.proto does not name. */
// Typed as string, not the union: ContainerInfo built elsewhere (pod specs) carries plain strings.
const capabilityName = z.custom<string>((v) => isLinuxCapability(v), {
  error: (issue) => `${JSON.stringify(issue.input)} is not a Linux capability (one of ${LINUX_CAPABILITIES.slice(0, 3).join(', ')}, …, ${LINUX_CAPABILITIES.at(-1) ?? ''})`,
});

/** An env map (name to value); each variable must be passable to execve (src/task/env-limits.ts). */
const envMap = z.record(z.string(), z.string()).superRefine((env, ctx) => {
  for (const [name, value] of Object.entries(env)) {
    const problem = envProblem(name, value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [mapKeyForPath(name)], message: problem });
  }
});

const legacyEnvVariable = z
  .object({ name: z.string().optional(), value: z.string().optional() })
  .superRefine((v, ctx) => {
    const problem = envProblem(v.name ?? '', v.value ?? '');
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: problem });
  });

/**
 * All variables together stay under the total (counted over the three
 * sources, so a name in two maps counts twice: a bound, not an exact size).
 */
const checkEnvTotal = (info: { userProvidedEnv?: Record<string, string> | undefined; titusProvidedEnv?: Record<string, string> | undefined; environmentVariable?: Array<{ name?: string | undefined; value?: string | undefined }> | undefined }, ctx: z.RefinementCtx): void => {
  let total = 0;
  const sources: Array<[string, Array<[string, string]>]> = [
    ['environmentVariable', (info.environmentVariable ?? []).map((e) => [e.name ?? '', e.value ?? ''])],
    ['userProvidedEnv', Object.entries(info.userProvidedEnv ?? {})],
    ['titusProvidedEnv', Object.entries(info.titusProvidedEnv ?? {})],
  ];
  for (const [field, entries] of sources) {
    for (const [name, value] of entries) total += envEntryBytes(name, value);
    if (total > MAX_ENV_TOTAL_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `the environment adds up to more than ${MAX_ENV_TOTAL_BYTES} bytes (environmentVariable, userProvidedEnv and titusProvidedEnv together)`,
      });
      return;
    }
  }
};

/**
 * Request values the executor copies into container labels as they are
 * (a restart reads them back), at most this long: containerd's bound for one
 * label, and more than any real app name, IAM role ARN or owner address.
 */
export const MAX_LABEL_COPIED_BYTES = 4096;
const labelCopied = (): z.ZodString =>
  z.string().refine((v) => Buffer.byteLength(v) <= MAX_LABEL_COPIED_BYTES, `must be at most ${MAX_LABEL_COPIED_BYTES} bytes (it is copied into a container label)`);
/** Passthrough attributes that become labels (src/task/build-container-spec.ts). */
const LABEL_COPIED_ATTRIBUTES = ['titus.agent.ownerEmail', 'titus.agent.jobType'] as const;

/** There are 41 Linux capabilities; a longer list is a client's mistake, not a wish (200,000 once reached the engine). */
export const MAX_CAPABILITY_ENTRIES = 64;
const capabilityList = () => z.array(capabilityName).max(MAX_CAPABILITY_ENTRIES, `must have at most ${MAX_CAPABILITY_ENTRIES} entries (there are ${LINUX_CAPABILITIES.length} Linux capabilities)`);

/** The kernel's range for /proc/<pid>/oom_score_adj; the engine refuses anything else at create. */
export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;

/** Values beyond 2^31 in a uint32 field are almost always a negative number a client wrapped. */
const MAX_UINT_FIELD = 2 ** 31 - 1;
const uint = (): z.ZodNumber => z.number().int().nonnegative().max(MAX_UINT_FIELD, `must be below 2^31 (a negative number sent as uint32 arrives as 4294967295 or so)`);

export const containerInfoSchema = z
  .object({
    imageName: z.string().optional(),
    version: z.string().optional(),
    environmentVariable: z.array(legacyEnvVariable).optional(),
    jobId: z.string().optional(),
    logUploadRegexp: z.string().optional(),
    entrypointStr: z.string().optional(),
    appName: labelCopied().optional(),
    jobGroupStack: z.string().optional(),
    jobGroupDetail: z.string().optional(),
    iamProfile: labelCopied().optional(),
    networkConfigInfo: z
      .object({
        eniLablel: z.string().optional(),
        securityGroups: z.array(z.string()).optional(),
        bandwidthLimitMbps: uint().optional(),
        eniLabel: z.string().optional(),
      })
      .optional(),
    jobGroupSequence: z.string().optional(),
    numGpus: uint().optional(),
    efsConfigInfo: z.array(z.record(z.string(), z.unknown())).optional(),
    capabilities: z
      .object({ add: capabilityList().optional(), drop: capabilityList().optional() })
      .optional(),
    metatronCreds: z.object({ appMetadata: z.string().optional(), metadataSig: z.string().optional() }).optional(),
    userProvidedEnv: envMap.optional(),
    titusProvidedEnv: envMap.optional(),
    imageDigest: z.string().optional(),
    allowNetworkBursting: z.boolean().optional(),
    killWaitSeconds: uint().optional(),
    ignoreLaunchGuard: z.boolean().optional(),
    allowNestedContainers: z.boolean().optional(),
    fullyQualifiedImage: z.string().optional(),
    allowCpuBursting: z.boolean().optional(),
    batch: z.boolean().optional(),
    oomScoreAdj: z
      .number()
      .int()
      .min(OOM_SCORE_ADJ_MIN, `must be between ${OOM_SCORE_ADJ_MIN} and ${OOM_SCORE_ADJ_MAX}`)
      .max(OOM_SCORE_ADJ_MAX, `must be between ${OOM_SCORE_ADJ_MIN} and ${OOM_SCORE_ADJ_MAX}`)
      .optional(),
    passthroughAttributes: stringMap
      .superRefine((attrs, ctx) => {
        for (const key of LABEL_COPIED_ATTRIBUTES) {
          const v = attrs[key];
          if (v !== undefined && Buffer.byteLength(v) > MAX_LABEL_COPIED_BYTES) {
            ctx.addIssue({ code: 'custom', path: [key], message: `must be at most ${MAX_LABEL_COPIED_BYTES} bytes (it is copied into a container label)` });
          }
        }
      })
      .optional(),
    process: z
      .object({ entrypoint: z.array(z.string()).optional(), command: z.array(z.string()).optional() })
      .optional(),
    shmSizeMB: uint().optional(),
    signedAddressAllocation: z.instanceof(Uint8Array).optional(),
    jobAcceptedTimestampMs: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).optional(),
  })
  // Unknown keys are dropped, as a proto decoder skips unknown fields.
  .strip()
  .superRefine(checkEnvTotal);

export type ContainerInfo = z.infer<typeof containerInfoSchema>;
