import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ContainerInfo as _messages_ContainerInfo, ContainerInfo__Output as _messages_ContainerInfo__Output } from './messages/ContainerInfo.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  messages: {
    ContainerInfo: MessageTypeDefinition<_messages_ContainerInfo, _messages_ContainerInfo__Output>
  }
}

