import { z } from 'zod';

/**
 * The ContainerInfo fields the executor reads, validated. The object shape is
 * the one protobufjs/proto-loader produce for `messages.ContainerInfo`
 * (camelCase names, enum names as strings, 64-bit values as strings), so a
 * decoded message and a gRPC request body validate the same way.
 */
const stringMap = z.record(z.string(), z.string());

const capabilityName = z.string().regex(/^[A-Z_]+$/, 'must be a Linux capability name such as NET_ADMIN');

export const containerInfoSchema = z
  .object({
    imageName: z.string().optional(),
    version: z.string().optional(),
    environmentVariable: z.array(z.object({ name: z.string().optional(), value: z.string().optional() })).optional(),
    jobId: z.string().optional(),
    logUploadRegexp: z.string().optional(),
    entrypointStr: z.string().optional(),
    appName: z.string().optional(),
    jobGroupStack: z.string().optional(),
    jobGroupDetail: z.string().optional(),
    iamProfile: z.string().optional(),
    networkConfigInfo: z
      .object({
        eniLablel: z.string().optional(),
        securityGroups: z.array(z.string()).optional(),
        bandwidthLimitMbps: z.number().int().nonnegative().optional(),
        eniLabel: z.string().optional(),
      })
      .optional(),
    jobGroupSequence: z.string().optional(),
    numGpus: z.number().int().nonnegative().optional(),
    efsConfigInfo: z.array(z.record(z.string(), z.unknown())).optional(),
    capabilities: z
      .object({ add: z.array(capabilityName).optional(), drop: z.array(capabilityName).optional() })
      .optional(),
    metatronCreds: z.object({ appMetadata: z.string().optional(), metadataSig: z.string().optional() }).optional(),
    userProvidedEnv: stringMap.optional(),
    titusProvidedEnv: stringMap.optional(),
    imageDigest: z.string().optional(),
    allowNetworkBursting: z.boolean().optional(),
    killWaitSeconds: z.number().int().nonnegative().optional(),
    ignoreLaunchGuard: z.boolean().optional(),
    allowNestedContainers: z.boolean().optional(),
    fullyQualifiedImage: z.string().optional(),
    allowCpuBursting: z.boolean().optional(),
    batch: z.boolean().optional(),
    oomScoreAdj: z.number().int().optional(),
    passthroughAttributes: stringMap.optional(),
    process: z
      .object({ entrypoint: z.array(z.string()).optional(), command: z.array(z.string()).optional() })
      .optional(),
    shmSizeMB: z.number().int().nonnegative().optional(),
    signedAddressAllocation: z.instanceof(Uint8Array).optional(),
    jobAcceptedTimestampMs: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]).optional(),
  })
  // Unknown keys are dropped, as a proto decoder skips unknown fields.
  .strip();

export type ContainerInfo = z.infer<typeof containerInfoSchema>;
