import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { protoDir } from './proto.js';
import { checkWireTypes } from './wire-types.js';

let root: protobuf.Root | undefined;

/** protobufjs reflection of executor.proto (and the agent.proto it imports), for wire-type checks. */
const protoRoot = (): protobuf.Root => {
  if (root !== undefined) return root;
  const r = new protobuf.Root();
  const dir = protoDir();
  // google/protobuf/* are bundled with protobufjs and found by name whatever this returns.
  r.resolvePath = (_origin, target) => join(dir, target);
  r.loadSync('titus/executor/v1/executor.proto');
  r.resolveAll();
  root = r;
  return r;
};

/** Throws naming the first field of serialized ContainerInfo bytes that has the wrong wire type. */
export const checkContainerInfoWireTypes = (bytes: Uint8Array): void => {
  checkWireTypes(protoRoot().lookupType('messages.ContainerInfo'), bytes);
};

const UNDECODABLE = Symbol('undecodable request');

/** Why the request could not be decoded, when the service's decoding gave up on it; else undefined. */
export const undecodableReason = (request: unknown): string | undefined => {
  if (typeof request !== 'object' || request === null || !(UNDECODABLE in request)) return undefined;
  return String((request as { [UNDECODABLE]: unknown })[UNDECODABLE]);
};

/**
 * The service definition with request decoding that does not throw. grpc-js
 * answers a request it cannot deserialize with INTERNAL, blaming the server
 * for the client's bytes; here a request that is not the method's message
 * (broken structure, or a field of the wrong wire type) becomes an object
 * carrying why, and the handler's validation answers INVALID_ARGUMENT.
 */
export const withRequestChecks = (service: grpc.ServiceDefinition, serviceName: string): grpc.ServiceDefinition => {
  const reflected = protoRoot().lookupService(serviceName);
  const checked: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
    const type = reflected.methods[name]?.resolvedRequestType ?? undefined;
    const messageName = type?.fullName.replace(/^\./, '') ?? 'request';
    checked[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          if (type !== undefined) checkWireTypes(type, bytes);
          return method.requestDeserialize(bytes);
        } catch (err) {
          return { [UNDECODABLE]: `not a serialized ${messageName}: ${errorMessage(err)}` };
        }
      },
    };
  }
  return checked as grpc.ServiceDefinition;
};
