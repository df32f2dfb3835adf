// Original file: proto/titus/executor/v1/executor.proto

import type { TaskStatusUpdate as _titus_executor_v1_TaskStatusUpdate, TaskStatusUpdate__Output as _titus_executor_v1_TaskStatusUpdate__Output } from '../../../titus/executor/v1/TaskStatusUpdate.js';
import type { SnapshotEnd as _titus_executor_v1_SnapshotEnd, SnapshotEnd__Output as _titus_executor_v1_SnapshotEnd__Output } from '../../../titus/executor/v1/SnapshotEnd.js';
import type { KeepAlive as _titus_executor_v1_KeepAlive, KeepAlive__Output as _titus_executor_v1_KeepAlive__Output } from '../../../titus/executor/v1/KeepAlive.js';

export interface TaskStatusEvent {
  'update'?: (_titus_executor_v1_TaskStatusUpdate | null);
  'snapshotEnd'?: (_titus_executor_v1_SnapshotEnd | null);
  'keepAlive'?: (_titus_executor_v1_KeepAlive | null);
  'event'?: "update"|"snapshotEnd"|"keepAlive";
}

export interface TaskStatusEvent__Output {
  'update'?: (_titus_executor_v1_TaskStatusUpdate__Output);
  'snapshotEnd'?: (_titus_executor_v1_SnapshotEnd__Output);
  'keepAlive'?: (_titus_executor_v1_KeepAlive__Output);
  'event'?: "update"|"snapshotEnd"|"keepAlive";
}
