// Original file: proto/titus/executor/v1/executor.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp.js';
import type { TaskState as _titus_executor_v1_TaskState, TaskState__Output as _titus_executor_v1_TaskState__Output } from '../../../titus/executor/v1/TaskState.js';
import type { NetworkDetails as _titus_executor_v1_NetworkDetails, NetworkDetails__Output as _titus_executor_v1_NetworkDetails__Output } from '../../../titus/executor/v1/NetworkDetails.js';
import type { ExitInfo as _titus_executor_v1_ExitInfo, ExitInfo__Output as _titus_executor_v1_ExitInfo__Output } from '../../../titus/executor/v1/ExitInfo.js';
import type { PullProgress as _titus_executor_v1_PullProgress, PullProgress__Output as _titus_executor_v1_PullProgress__Output } from '../../../titus/executor/v1/PullProgress.js';
import type { Long } from '@grpc/proto-loader';

export interface TaskStatusUpdate {
  'taskId'?: (string);
  'sequence'?: (number | string | Long);
  'timestamp'?: (_google_protobuf_Timestamp | null);
  'state'?: (_titus_executor_v1_TaskState);
  'message'?: (string);
  'titusState'?: (string);
  'reasonCode'?: (string);
  'containerId'?: (string);
  'network'?: (_titus_executor_v1_NetworkDetails | null);
  'exit'?: (_titus_executor_v1_ExitInfo | null);
  'pull'?: (_titus_executor_v1_PullProgress | null);
}

export interface TaskStatusUpdate__Output {
  'taskId'?: (string);
  'sequence'?: (string);
  'timestamp'?: (_google_protobuf_Timestamp__Output);
  'state'?: (_titus_executor_v1_TaskState__Output);
  'message'?: (string);
  'titusState'?: (string);
  'reasonCode'?: (string);
  'containerId'?: (string);
  'network'?: (_titus_executor_v1_NetworkDetails__Output);
  'exit'?: (_titus_executor_v1_ExitInfo__Output);
  'pull'?: (_titus_executor_v1_PullProgress__Output);
}
