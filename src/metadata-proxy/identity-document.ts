import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../common/package-root.js';
import type { IdentitySigner, SignatureAlgorithmName } from './identity-signer.js';
import type { TaskIdentityInfo } from './types.js';

interface IdentityTypes {
  readonly containerInfo: protobuf.Type;
  readonly runningContainerInfo: protobuf.Type;
  readonly taskIdentity: protobuf.Type;
  readonly taskIdentityDocument: protobuf.Type;
  readonly signatureAlgorithm: protobuf.Enum;
}

let types: IdentityTypes | undefined;

/** agent.proto and identity.proto, loaded once. */
export const identityTypes = (): IdentityTypes => {
  if (types !== undefined) return types;
  const dir = join(packageRoot(), 'proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync(['netflix/titus/agent.proto', 'netflix/titus/identity.proto'], { keepCase: true });
  types = {
    containerInfo: root.lookupType('messages.ContainerInfo'),
    runningContainerInfo: root.lookupType('messages.RunningContainerInfo'),
    taskIdentity: root.lookupType('messages.TaskIdentity'),
    taskIdentityDocument: root.lookupType('messages.TaskIdentityDocument'),
    signatureAlgorithm: root.lookupEnum('messages.SignatureAlgorithm'),
  };
  return types;
};

/** The JSON form: a readable view plus the exact signed bytes, so it verifies like the protobuf form. */
export interface TaskIdentityJson {
  readonly identity: Record<string, unknown>;
  /** base64 of the serialized TaskIdentity the signature covers. */
  readonly identityBytes: string;
  readonly signature: { readonly signature: string; readonly algorithm: SignatureAlgorithmName; readonly certChain: string[] };
}

export interface SignedTaskIdentity {
  /** A serialized TaskIdentityDocument. */
  readonly protobuf: Uint8Array;
  readonly json: TaskIdentityJson;
}

const RUN_STATE_FIELD = 39; // ContainerInfo.runState, a RunningContainerInfo
const TO_OBJECT = { longs: String, enums: String, bytes: String, defaults: false } as const;

/** Builds and signs the identity document of a task at `nowMs`. */
export const signedTaskIdentity = (task: TaskIdentityInfo, signer: IdentitySigner, nowMs: number): SignedTaskIdentity => {
  const t = identityTypes();
  const hostName = task.hostname ?? task.taskId;
  const runState = { hostName, taskId: task.taskId, launchTimeUnixSec: Math.floor((task.startedAtMs ?? task.acceptedAtMs) / 1000) };
  const containerMessage = t.containerInfo.fromObject(task.containerInfo);
  const container = concat(
    t.containerInfo.encode(containerMessage).finish(),
    protobuf.Writer.create()
      .uint32((RUN_STATE_FIELD << 3) | 2)
      .bytes(t.runningContainerInfo.encode(t.runningContainerInfo.fromObject(runState)).finish())
      .finish(),
  );
  const identityFields = {
    task: { containerId: task.taskId, taskId: task.taskId, hostName, status: 'RUNNING' },
    unixTimestampSec: Math.floor(nowMs / 1000),
    ...(task.ipv4Address === undefined ? {} : { ipv4Address: task.ipv4Address }),
    ...(task.ipv6Address === undefined ? {} : { ipv6Address: task.ipv6Address }),
  };
  const identityBytes = t.taskIdentity.encode(t.taskIdentity.fromObject({ ...identityFields, container })).finish();
  const signature = signer.sign(identityBytes);
  const document = t.taskIdentityDocument.fromObject({
    identity: identityBytes,
    signature: { signature, algorithm: signer.algorithm, certChain: signer.certChainDer },
  });
  return {
    protobuf: t.taskIdentityDocument.encode(document).finish(),
    json: {
      identity: {
        ...identityFields,
        unixTimestampSec: String(identityFields.unixTimestampSec),
        container: { ...t.containerInfo.toObject(containerMessage, TO_OBJECT), runState: { ...runState, launchTimeUnixSec: String(runState.launchTimeUnixSec) } },
      },
      identityBytes: Buffer.from(identityBytes).toString('base64'),
      signature: {
        signature: signature.toString('base64'),
        algorithm: signer.algorithm,
        certChain: signer.certChainDer.map((c) => c.toString('base64')),
      },
    },
  };
};

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
};
