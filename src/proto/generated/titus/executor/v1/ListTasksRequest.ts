// Original file: proto/titus/executor/v1/executor.proto

import type { TaskState as _titus_executor_v1_TaskState, TaskState__Output as _titus_executor_v1_TaskState__Output } from '../../../titus/executor/v1/TaskState.js';

export interface ListTasksRequest {
  'includeTerminal'?: (boolean);
  'states'?: (_titus_executor_v1_TaskState)[];
}

export interface ListTasksRequest__Output {
  'includeTerminal'?: (boolean);
  'states': (_titus_executor_v1_TaskState__Output)[];
}
