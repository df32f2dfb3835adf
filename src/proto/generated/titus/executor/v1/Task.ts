// Original file: proto/titus/executor/v1/executor.proto

import type { TaskState as _titus_executor_v1_TaskState, TaskState__Output as _titus_executor_v1_TaskState__Output } from '../../../titus/executor/v1/TaskState.js';
import type { Resources as _titus_executor_v1_Resources, Resources__Output as _titus_executor_v1_Resources__Output } from '../../../titus/executor/v1/Resources.js';
import type { ContainerInfo as _messages_ContainerInfo, ContainerInfo__Output as _messages_ContainerInfo__Output } from '../../../messages/ContainerInfo.js';
import type { TaskStatusUpdate as _titus_executor_v1_TaskStatusUpdate, TaskStatusUpdate__Output as _titus_executor_v1_TaskStatusUpdate__Output } from '../../../titus/executor/v1/TaskStatusUpdate.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp.js';

export interface Task {
  'taskId'?: (string);
  'state'?: (_titus_executor_v1_TaskState);
  'resources'?: (_titus_executor_v1_Resources | null);
  'containerInfo'?: (_messages_ContainerInfo | null);
  'lastUpdate'?: (_titus_executor_v1_TaskStatusUpdate | null);
  'history'?: (_titus_executor_v1_TaskStatusUpdate)[];
  'acceptedAt'?: (_google_protobuf_Timestamp | null);
  'startedAt'?: (_google_protobuf_Timestamp | null);
  'finishedAt'?: (_google_protobuf_Timestamp | null);
  'image'?: (string);
  'containerId'?: (string);
  'labels'?: ({[key: string]: string});
  'outputTail'?: (string);
  'runtimeLimitSeconds'?: (number);
}

export interface Task__Output {
  'taskId'?: (string);
  'state'?: (_titus_executor_v1_TaskState__Output);
  'resources'?: (_titus_executor_v1_Resources__Output);
  'containerInfo'?: (_messages_ContainerInfo__Output);
  'lastUpdate'?: (_titus_executor_v1_TaskStatusUpdate__Output);
  'history': (_titus_executor_v1_TaskStatusUpdate__Output)[];
  'acceptedAt'?: (_google_protobuf_Timestamp__Output);
  'startedAt'?: (_google_protobuf_Timestamp__Output);
  'finishedAt'?: (_google_protobuf_Timestamp__Output);
  'image'?: (string);
  'containerId'?: (string);
  'labels'?: ({[key: string]: string});
  'outputTail'?: (string);
  'runtimeLimitSeconds'?: (number);
}
