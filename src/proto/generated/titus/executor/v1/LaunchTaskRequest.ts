// Original file: proto/titus/executor/v1/executor.proto

import type { ContainerInfo as _messages_ContainerInfo, ContainerInfo__Output as _messages_ContainerInfo__Output } from '../../../messages/ContainerInfo.js';
import type { Resources as _titus_executor_v1_Resources, Resources__Output as _titus_executor_v1_Resources__Output } from '../../../titus/executor/v1/Resources.js';

export interface LaunchTaskRequest {
  'taskId'?: (string);
  'containerInfo'?: (_messages_ContainerInfo | null);
  'containerInfoBytes'?: (Buffer | Uint8Array | string);
  'resources'?: (_titus_executor_v1_Resources | null);
  'labels'?: ({[key: string]: string});
  'runtimeLimitSeconds'?: (number);
  'pod'?: (Buffer | Uint8Array | string);
  'container'?: "containerInfo"|"containerInfoBytes"|"pod";
}

export interface LaunchTaskRequest__Output {
  'taskId'?: (string);
  'containerInfo'?: (_messages_ContainerInfo__Output);
  'containerInfoBytes'?: (Buffer);
  'resources'?: (_titus_executor_v1_Resources__Output);
  'labels'?: ({[key: string]: string});
  'runtimeLimitSeconds'?: (number);
  'pod'?: (Buffer);
  'container'?: "containerInfo"|"containerInfoBytes"|"pod";
}
