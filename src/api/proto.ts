import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { packageRoot } from '../common/package-root.js';
import { checkWireFormat } from './wire-check.js';
import type { ProtoGrpcType } from '../proto/generated/executor.js';
import type { ContainerInfo__Output } from '../proto/generated/messages/ContainerInfo.js';

/** One set of conversion options for the gRPC loader and for raw ContainerInfo bytes. */
export const CONVERSION = { longs: String, enums: String, arrays: true, oneofs: true, defaults: false } as const;

export const protoDir = (): string => join(packageRoot(), 'proto');

export interface ExecutorProto {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly grpcType: ProtoGrpcType;
  /** Decodes the serialized `messages.ContainerInfo` the control plane stores. */
  decodeContainerInfo(bytes: Uint8Array): ContainerInfo__Output;
  encodeContainerInfo(info: Record<string, unknown>): Uint8Array;
}

let cached: ExecutorProto | undefined;

export const loadExecutorProto = (): ExecutorProto => {
  if (cached !== undefined) return cached;
  const dir = protoDir();
  const packageDefinition = protoLoader.loadSync('titus/executor/v1/executor.proto', {
    keepCase: false,
    ...CONVERSION,
    includeDirs: [dir],
  });
  const grpcType = grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync('netflix/titus/agent.proto', { keepCase: true });
  const type = root.lookupType('messages.ContainerInfo');
  cached = {
    packageDefinition,
    grpcType,
    decodeContainerInfo: (bytes) => {
      checkWireFormat(bytes);
      return type.toObject(type.decode(bytes), CONVERSION) as ContainerInfo__Output;
    },
    encodeContainerInfo: (info) => type.encode(type.fromObject(info)).finish(),
  };
  return cached;
};
