// Original file: proto/titus/executor/v1/executor.proto

import type { Task as _titus_executor_v1_Task, Task__Output as _titus_executor_v1_Task__Output } from '../../../titus/executor/v1/Task.js';

export interface ListTasksResponse {
  'tasks'?: (_titus_executor_v1_Task)[];
}

export interface ListTasksResponse__Output {
  'tasks': (_titus_executor_v1_Task__Output)[];
}
