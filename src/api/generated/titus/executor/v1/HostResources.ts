// Original file: proto/titus/executor/v1/executor.proto

import type { Resources as _titus_executor_v1_Resources, Resources__Output as _titus_executor_v1_Resources__Output } from '../../../titus/executor/v1/Resources.js';
import type { GpuDevice as _titus_executor_v1_GpuDevice, GpuDevice__Output as _titus_executor_v1_GpuDevice__Output } from '../../../titus/executor/v1/GpuDevice.js';

export interface HostResources {
  'total'?: (_titus_executor_v1_Resources | null);
  'allocated'?: (_titus_executor_v1_Resources | null);
  'runningTasks'?: (number);
  'engineVersion'?: (string);
  'hostname'?: (string);
  'status'?: (string)[];
  'gpus'?: (_titus_executor_v1_GpuDevice)[];
}

export interface HostResources__Output {
  'total'?: (_titus_executor_v1_Resources__Output);
  'allocated'?: (_titus_executor_v1_Resources__Output);
  'runningTasks'?: (number);
  'engineVersion'?: (string);
  'hostname'?: (string);
  'status': (string)[];
  'gpus': (_titus_executor_v1_GpuDevice__Output)[];
}
