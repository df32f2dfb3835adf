// Original file: proto/titus/executor/v1/executor.proto

import type { Task as _titus_executor_v1_Task, Task__Output as _titus_executor_v1_Task__Output } from '../../../titus/executor/v1/Task.js';

export interface LaunchTaskResponse {
  'task'?: (_titus_executor_v1_Task | null);
}

export interface LaunchTaskResponse__Output {
  'task'?: (_titus_executor_v1_Task__Output);
}
