// Original file: proto/titus/executor/v1/executor.proto

import type { Resources as _titus_executor_v1_Resources, Resources__Output as _titus_executor_v1_Resources__Output } from '../../../titus/executor/v1/Resources.js';
import type { GpuDevice as _titus_executor_v1_GpuDevice, GpuDevice__Output as _titus_executor_v1_GpuDevice__Output } from '../../../titus/executor/v1/GpuDevice.js';
import type { DrainState as _titus_executor_v1_DrainState, DrainState__Output as _titus_executor_v1_DrainState__Output } from '../../../titus/executor/v1/DrainState.js';
import type { DiskUsage as _titus_executor_v1_DiskUsage, DiskUsage__Output as _titus_executor_v1_DiskUsage__Output } from '../../../titus/executor/v1/DiskUsage.js';
import type { NetworkInterface as _titus_executor_v1_NetworkInterface, NetworkInterface__Output as _titus_executor_v1_NetworkInterface__Output } from '../../../titus/executor/v1/NetworkInterface.js';
import type { DiskQuota as _titus_executor_v1_DiskQuota, DiskQuota__Output as _titus_executor_v1_DiskQuota__Output } from '../../../titus/executor/v1/DiskQuota.js';

export interface HostResources {
  'total'?: (_titus_executor_v1_Resources | null);
  'allocated'?: (_titus_executor_v1_Resources | null);
  'runningTasks'?: (number);
  'engineVersion'?: (string);
  'hostname'?: (string);
  'status'?: (string)[];
  'gpus'?: (_titus_executor_v1_GpuDevice)[];
  'drain'?: (_titus_executor_v1_DrainState | null);
  'available'?: (_titus_executor_v1_Resources | null);
  'disks'?: (_titus_executor_v1_DiskUsage)[];
  'nics'?: (_titus_executor_v1_NetworkInterface)[];
  'diskQuota'?: (_titus_executor_v1_DiskQuota | null);
}

export interface HostResources__Output {
  'total'?: (_titus_executor_v1_Resources__Output);
  'allocated'?: (_titus_executor_v1_Resources__Output);
  'runningTasks'?: (number);
  'engineVersion'?: (string);
  'hostname'?: (string);
  'status': (string)[];
  'gpus': (_titus_executor_v1_GpuDevice__Output)[];
  'drain'?: (_titus_executor_v1_DrainState__Output);
  'available'?: (_titus_executor_v1_Resources__Output);
  'disks': (_titus_executor_v1_DiskUsage__Output)[];
  'nics': (_titus_executor_v1_NetworkInterface__Output)[];
  'diskQuota'?: (_titus_executor_v1_DiskQuota__Output);
}
