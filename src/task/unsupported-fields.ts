import type { z } from 'zod';
import { ExecutorError } from '../common/errors.js';

/**
 * ContainerInfo fields and passthrough attributes the executor cannot honour,
 * refused by name instead of dropped: a task that asked for something and ran
 * without it is the most dangerous outcome an executor can give. Every field
 * and what the executor does with it is in docs/fields.md (checked by
 * test/unit/field-table.test.ts).
 */

/** The part of a ContainerInfo this check reads (the schema's output, before the check runs). */
export interface RefusableContainerInfo {
  readonly metatronCreds?: { readonly appMetadata?: string | undefined; readonly metadataSig?: string | undefined } | undefined;
  readonly signedAddressAllocation?: Uint8Array | undefined;
  readonly allowNestedContainers?: boolean | undefined;
  readonly ignoreLaunchGuard?: boolean | undefined;
  readonly networkConfigInfo?: { readonly eniLablel?: string | undefined; readonly eniLabel?: string | undefined } | undefined;
  readonly passthroughAttributes?: Readonly<Record<string, string>> | undefined;
}

interface Refusal {
  readonly field: string;
  readonly refused: (info: RefusableContainerInfo) => boolean;
  readonly why: string;
}

const nonEmpty = (s: string | undefined): boolean => s !== undefined && s !== '';

/** Field by field: what makes the field a request the executor would not fulfil. */
export const CONTAINER_INFO_REFUSALS: readonly Refusal[] = [
  {
    field: 'metatronCreds',
    refused: (i) => nonEmpty(i.metatronCreds?.appMetadata) || nonEmpty(i.metatronCreds?.metadataSig),
    why: "Netflix's Metatron identity is not available on this executor: no Metatron sidecar would receive the credentials (leave it unset)",
  },
  {
    field: 'signedAddressAllocation',
    refused: (i) => i.signedAddressAllocation !== undefined && i.signedAddressAllocation.length > 0,
    why: 'static address allocations are not supported: the executor cannot verify the allocation against the Titus VPC service, and its network drivers assign addresses from their own pools (leave it unset)',
  },
  {
    field: 'allowNestedContainers',
    refused: (i) => i.allowNestedContainers === true,
    why: 'nested containers are not supported (as in Netflix’s executor, which refused them too)',
  },
  {
    field: 'ignoreLaunchGuard',
    refused: (i) => i.ignoreLaunchGuard === false,
    why: 'there is no launch guard (a launch never waits for another task’s cleanup), which is what true asks; false asks for one (set true or leave it unset)',
  },
  {
    field: 'networkConfigInfo.eniLabel',
    refused: (i) => nonEmpty(i.networkConfigInfo?.eniLabel) && !/^\d{1,3}$/.test(i.networkConfigInfo?.eniLabel ?? ''),
    why: 'must be a device index (a small whole number), as the control plane sends it',
  },
  {
    field: 'networkConfigInfo.eniLablel',
    refused: (i) => nonEmpty(i.networkConfigInfo?.eniLablel) && !/^\d{1,3}$/.test(i.networkConfigInfo?.eniLablel ?? ''),
    why: 'must be a device index (a small whole number), as the control plane sends it',
  },
];

/**
 * Every passthrough attribute the executor acts on. An attribute not listed
 * here is refused: the control plane forwards every `titusParameter.agent.*`
 * attribute a user sets, and one the executor does not know is a wish it
 * would not fulfil. Each entry is a row of docs/fields.md.
 */
export const RECOGNISED_PASSTHROUGH_ATTRIBUTES: readonly string[] = [
  'titus.agent.ownerEmail',
  'titus.agent.jobType',
  // The scheduler's runtime predictions: used to place the task, nothing for the host to do.
  'titus.agent.runtimePredictionSec',
  'titus.agent.runtimePredictionsAvailable',
  'titus.executor.publishedPorts',
  'titusParameter.agent.batchPriority',
  'titusParameter.agent.runtimeLimitSeconds',
  'titusParameter.agent.imds.requireToken',
  'titusParameter.agent.assignIPv6Address',
  'titusParameter.agent.hostnameStyle',
  // Security profiles and devices (task-security.ts).
  'titusParameter.agent.fuseEnabled',
  'titusParameter.agent.kvmEnabled',
  'titusParameter.agent.seccompProfile',
  'titusParameter.agent.apparmorProfile',
  'titusParameter.agent.tunEnabled',
  'titusParameter.agent.noNewPrivileges',
  'titusParameter.agent.imageBuildingEnabled',
  // Log upload to S3 (src/logs/upload; refused where upload is off: parts/log-upload-part.ts).
  'titusParameter.agent.log.uploadThresholdTime',
  'titusParameter.agent.log.uploadCheckInterval',
  'titusParameter.agent.log.keepLocalFileAfterUpload',
  'titusParameter.agent.log.s3BucketName',
  'titusParameter.agent.log.s3PathPrefix',
  'titusParameter.agent.log.s3WriterRole',
  'titusParameter.agent.log.disableUploads',
];

/** Attributes Titus defined that this executor knows and refuses, with why (the rest get a generic reason). */
export const REFUSED_PASSTHROUGH_ATTRIBUTES: Readonly<Record<string, string>> = {
  'titusParameter.agent.seccompAgentEnabledForPerfSyscalls': 'the seccomp-notify agent for perf syscalls is not supported',
  'titusParameter.agent.accountId': 'tasks get interfaces in the account the network driver is configured for',
  'titusParameter.agent.subnets': 'tasks get addresses from the subnet or pool the network driver is configured for',
  'titusParameter.agent.elasticIPPool': 'elastic IPs are not supported',
  'titusParameter.agent.elasticIPs': 'elastic IPs are not supported',
  'titusParameter.agent.allowNetworkJumbo': 'jumbo-frame routes are not supported',
  'titusParameter.agent.ttyEnabled': 'tasks run without a TTY',
  'titusParameter.agent.service.serviceMesh.enabled': 'the service-mesh sidecar is not supported',
  'titusParameter.agent.service.serviceMesh.container': 'the service-mesh sidecar is not supported',
  'titusParameter.agent.trafficSteeringEnabled': 'the traffic-steering sidecar is not supported',
  'titusParameter.agent.log.stdioCheckInterval': 'stdout/stderr are uploaded as they rotate (by size, logs.maxFileBytes) and at the end, not on a timer',
  'titusParameter.agent.optimisticIAMTokenFetch': 'not supported (Netflix’s executor parsed it and never used it)',
};

/** `hostnameStyle`: "" (the task id) is what the executor does; `ec2` is refused. */
const HOSTNAME_STYLE = 'titusParameter.agent.hostnameStyle';

const passthroughProblem = (key: string, value: string): string | undefined => {
  if (key === HOSTNAME_STYLE) {
    return value === '' ? undefined : 'only "" (the hostname is the task id) is supported; ec2-style hostnames (ip-a-b-c-d) are not';
  }
  if (RECOGNISED_PASSTHROUGH_ATTRIBUTES.includes(key)) return undefined;
  const known = REFUSED_PASSTHROUGH_ATTRIBUTES[key];
  if (known !== undefined) return known;
  // Keys in the namespaces that ask the agent for something are refused when unknown: running
  // without what they ask is the silent ignoring this table exists to prevent. Other keys
  // (the control plane's own bookkeeping, a user's tags) ask the host for nothing.
  if (!ASKING_NAMESPACES.some((prefix) => key.startsWith(prefix))) return undefined;
  return 'is not an attribute this executor knows, so it would not act on it (docs/fields.md lists the ones it does)';
};

/** Passthrough key prefixes whose attributes are instructions to the agent (Titus' `titusParameter.agent.*`) or to this executor. */
export const ASKING_NAMESPACES: readonly string[] = ['titusParameter.', 'titus.executor.'];

/** A zod refinement for the ContainerInfo schema: one issue per refused field, its path naming it. */
export const refuseUnsupportedContainerInfo = (info: RefusableContainerInfo, ctx: z.RefinementCtx): void => {
  for (const r of CONTAINER_INFO_REFUSALS) {
    if (r.refused(info)) ctx.addIssue({ code: 'custom', path: r.field.split('.'), message: r.why });
  }
  for (const [key, value] of Object.entries(info.passthroughAttributes ?? {})) {
    const problem = passthroughProblem(key, value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['passthroughAttributes', key], message: problem });
  }
};

/**
 * ContainerInfo field numbers this executor's proto reserves: fields Netflix's
 * executor never read (or that were removed), which a decoder would skip
 * without a word. Sent in containerInfoBytes, they are refused by name.
 */
export const RESERVED_CONTAINER_INFO_FIELDS: Readonly<Record<number, string>> = {
  2: 'command',
  3: 'containerPorts',
  8: 'maxHealthFailures',
  9: 'healthCheckCmd',
  10: 'snapshotPolicy',
  11: 'entrypointCmd',
  12: 'allocateIpAddress',
  34: 's3LogLocations',
  36: 'imagePullPolicy',
  39: 'runState',
};

/** The field numbers proto/netflix/titus/agent.proto defines for ContainerInfo (the field-table test checks them against it). */
export const CONTAINER_INFO_FIELD_NUMBERS: readonly number[] = [1, 4, 5, 6, 7, ...Array.from({ length: 21 }, (_, i) => 13 + i), 35, 37, 38, 40, 41, 42];

const RESERVED_WHY: Readonly<Record<string, string>> = {
  s3LogLocations: 'log upload targets come from the executor config and the passthrough attributes, not from this field',
  imagePullPolicy: 'tags are always pulled and digests only when absent; the policy cannot be chosen',
  runState: 'the executor fills it in itself; a launch must not carry it',
};

/**
 * Throws INVALID_ARGUMENT for a top-level field of serialized ContainerInfo
 * bytes that the executor's proto does not define (reserved or unknown):
 * decoded, it would vanish. Call after the bytes decoded (their wire format is sound).
 */
export const refuseUndefinedContainerInfoFields = (bytes: Uint8Array, prefix: string): void => {
  // 12, allocateIpAddress, was removed upstream because every task gets an address: whatever it says, that is what happens.
  const known = (n: number): boolean => n === 12 || CONTAINER_INFO_FIELD_NUMBERS.includes(n);
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    for (let i = 0; i < 10 && pos < bytes.length; i++) {
      const b = bytes[pos++] as number;
      if (i < 7) result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) break;
    }
    return result;
  };
  while (pos < bytes.length) {
    const tag = varint();
    const fieldNumber = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (!known(fieldNumber)) {
      const name = RESERVED_CONTAINER_INFO_FIELDS[fieldNumber];
      const field = `${prefix}.${name ?? `field${fieldNumber}`}`;
      const why = name === undefined
        ? `field number ${fieldNumber} is not a messages.ContainerInfo field this executor knows, so it would not act on it`
        : `field ${fieldNumber} is not supported: ${RESERVED_WHY[name] ?? 'Netflix’s executor never read it, and neither does this one'}`;
      throw new ExecutorError('INVALID_ARGUMENT', `${field}: ${why}`, { field });
    }
    if (wireType === 0) varint();
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = varint();
      pos += length;
    } else return; // checkWireFormat refused anything else before the decode
  }
};
