import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.js';
import type { ContainerInfo as _messages_ContainerInfo, ContainerInfo__Output as _messages_ContainerInfo__Output } from './messages/ContainerInfo.js';
import type { DiskQuota as _titus_executor_v1_DiskQuota, DiskQuota__Output as _titus_executor_v1_DiskQuota__Output } from './titus/executor/v1/DiskQuota.js';
import type { DiskUsage as _titus_executor_v1_DiskUsage, DiskUsage__Output as _titus_executor_v1_DiskUsage__Output } from './titus/executor/v1/DiskUsage.js';
import type { DrainState as _titus_executor_v1_DrainState, DrainState__Output as _titus_executor_v1_DrainState__Output } from './titus/executor/v1/DrainState.js';
import type { ExitInfo as _titus_executor_v1_ExitInfo, ExitInfo__Output as _titus_executor_v1_ExitInfo__Output } from './titus/executor/v1/ExitInfo.js';
import type { GetHostResourcesRequest as _titus_executor_v1_GetHostResourcesRequest, GetHostResourcesRequest__Output as _titus_executor_v1_GetHostResourcesRequest__Output } from './titus/executor/v1/GetHostResourcesRequest.js';
import type { GetLogsRequest as _titus_executor_v1_GetLogsRequest, GetLogsRequest__Output as _titus_executor_v1_GetLogsRequest__Output } from './titus/executor/v1/GetLogsRequest.js';
import type { GetLogsResponse as _titus_executor_v1_GetLogsResponse, GetLogsResponse__Output as _titus_executor_v1_GetLogsResponse__Output } from './titus/executor/v1/GetLogsResponse.js';
import type { GetTaskRequest as _titus_executor_v1_GetTaskRequest, GetTaskRequest__Output as _titus_executor_v1_GetTaskRequest__Output } from './titus/executor/v1/GetTaskRequest.js';
import type { GpuDevice as _titus_executor_v1_GpuDevice, GpuDevice__Output as _titus_executor_v1_GpuDevice__Output } from './titus/executor/v1/GpuDevice.js';
import type { HostResources as _titus_executor_v1_HostResources, HostResources__Output as _titus_executor_v1_HostResources__Output } from './titus/executor/v1/HostResources.js';
import type { KeepAlive as _titus_executor_v1_KeepAlive, KeepAlive__Output as _titus_executor_v1_KeepAlive__Output } from './titus/executor/v1/KeepAlive.js';
import type { KillTaskRequest as _titus_executor_v1_KillTaskRequest, KillTaskRequest__Output as _titus_executor_v1_KillTaskRequest__Output } from './titus/executor/v1/KillTaskRequest.js';
import type { KillTaskResponse as _titus_executor_v1_KillTaskResponse, KillTaskResponse__Output as _titus_executor_v1_KillTaskResponse__Output } from './titus/executor/v1/KillTaskResponse.js';
import type { LaunchTaskRequest as _titus_executor_v1_LaunchTaskRequest, LaunchTaskRequest__Output as _titus_executor_v1_LaunchTaskRequest__Output } from './titus/executor/v1/LaunchTaskRequest.js';
import type { LaunchTaskResponse as _titus_executor_v1_LaunchTaskResponse, LaunchTaskResponse__Output as _titus_executor_v1_LaunchTaskResponse__Output } from './titus/executor/v1/LaunchTaskResponse.js';
import type { ListTasksRequest as _titus_executor_v1_ListTasksRequest, ListTasksRequest__Output as _titus_executor_v1_ListTasksRequest__Output } from './titus/executor/v1/ListTasksRequest.js';
import type { ListTasksResponse as _titus_executor_v1_ListTasksResponse, ListTasksResponse__Output as _titus_executor_v1_ListTasksResponse__Output } from './titus/executor/v1/ListTasksResponse.js';
import type { LogLine as _titus_executor_v1_LogLine, LogLine__Output as _titus_executor_v1_LogLine__Output } from './titus/executor/v1/LogLine.js';
import type { NetworkDetails as _titus_executor_v1_NetworkDetails, NetworkDetails__Output as _titus_executor_v1_NetworkDetails__Output } from './titus/executor/v1/NetworkDetails.js';
import type { NetworkInterface as _titus_executor_v1_NetworkInterface, NetworkInterface__Output as _titus_executor_v1_NetworkInterface__Output } from './titus/executor/v1/NetworkInterface.js';
import type { PullProgress as _titus_executor_v1_PullProgress, PullProgress__Output as _titus_executor_v1_PullProgress__Output } from './titus/executor/v1/PullProgress.js';
import type { Resources as _titus_executor_v1_Resources, Resources__Output as _titus_executor_v1_Resources__Output } from './titus/executor/v1/Resources.js';
import type { SetDrainRequest as _titus_executor_v1_SetDrainRequest, SetDrainRequest__Output as _titus_executor_v1_SetDrainRequest__Output } from './titus/executor/v1/SetDrainRequest.js';
import type { SnapshotEnd as _titus_executor_v1_SnapshotEnd, SnapshotEnd__Output as _titus_executor_v1_SnapshotEnd__Output } from './titus/executor/v1/SnapshotEnd.js';
import type { Task as _titus_executor_v1_Task, Task__Output as _titus_executor_v1_Task__Output } from './titus/executor/v1/Task.js';
import type { TaskStatusEvent as _titus_executor_v1_TaskStatusEvent, TaskStatusEvent__Output as _titus_executor_v1_TaskStatusEvent__Output } from './titus/executor/v1/TaskStatusEvent.js';
import type { TaskStatusUpdate as _titus_executor_v1_TaskStatusUpdate, TaskStatusUpdate__Output as _titus_executor_v1_TaskStatusUpdate__Output } from './titus/executor/v1/TaskStatusUpdate.js';
import type { TitusExecutorClient as _titus_executor_v1_TitusExecutorClient, TitusExecutorDefinition as _titus_executor_v1_TitusExecutorDefinition } from './titus/executor/v1/TitusExecutor.js';
import type { WatchTaskStatusRequest as _titus_executor_v1_WatchTaskStatusRequest, WatchTaskStatusRequest__Output as _titus_executor_v1_WatchTaskStatusRequest__Output } from './titus/executor/v1/WatchTaskStatusRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
  messages: {
    ContainerInfo: MessageTypeDefinition<_messages_ContainerInfo, _messages_ContainerInfo__Output>
  }
  titus: {
    executor: {
      v1: {
        DiskQuota: MessageTypeDefinition<_titus_executor_v1_DiskQuota, _titus_executor_v1_DiskQuota__Output>
        DiskUsage: MessageTypeDefinition<_titus_executor_v1_DiskUsage, _titus_executor_v1_DiskUsage__Output>
        DrainState: MessageTypeDefinition<_titus_executor_v1_DrainState, _titus_executor_v1_DrainState__Output>
        ExitInfo: MessageTypeDefinition<_titus_executor_v1_ExitInfo, _titus_executor_v1_ExitInfo__Output>
        GetHostResourcesRequest: MessageTypeDefinition<_titus_executor_v1_GetHostResourcesRequest, _titus_executor_v1_GetHostResourcesRequest__Output>
        GetLogsRequest: MessageTypeDefinition<_titus_executor_v1_GetLogsRequest, _titus_executor_v1_GetLogsRequest__Output>
        GetLogsResponse: MessageTypeDefinition<_titus_executor_v1_GetLogsResponse, _titus_executor_v1_GetLogsResponse__Output>
        GetTaskRequest: MessageTypeDefinition<_titus_executor_v1_GetTaskRequest, _titus_executor_v1_GetTaskRequest__Output>
        GpuDevice: MessageTypeDefinition<_titus_executor_v1_GpuDevice, _titus_executor_v1_GpuDevice__Output>
        HostResources: MessageTypeDefinition<_titus_executor_v1_HostResources, _titus_executor_v1_HostResources__Output>
        KeepAlive: MessageTypeDefinition<_titus_executor_v1_KeepAlive, _titus_executor_v1_KeepAlive__Output>
        KillTaskRequest: MessageTypeDefinition<_titus_executor_v1_KillTaskRequest, _titus_executor_v1_KillTaskRequest__Output>
        KillTaskResponse: MessageTypeDefinition<_titus_executor_v1_KillTaskResponse, _titus_executor_v1_KillTaskResponse__Output>
        LaunchTaskRequest: MessageTypeDefinition<_titus_executor_v1_LaunchTaskRequest, _titus_executor_v1_LaunchTaskRequest__Output>
        LaunchTaskResponse: MessageTypeDefinition<_titus_executor_v1_LaunchTaskResponse, _titus_executor_v1_LaunchTaskResponse__Output>
        ListTasksRequest: MessageTypeDefinition<_titus_executor_v1_ListTasksRequest, _titus_executor_v1_ListTasksRequest__Output>
        ListTasksResponse: MessageTypeDefinition<_titus_executor_v1_ListTasksResponse, _titus_executor_v1_ListTasksResponse__Output>
        LogLine: MessageTypeDefinition<_titus_executor_v1_LogLine, _titus_executor_v1_LogLine__Output>
        LogStream: EnumTypeDefinition
        NetworkDetails: MessageTypeDefinition<_titus_executor_v1_NetworkDetails, _titus_executor_v1_NetworkDetails__Output>
        NetworkInterface: MessageTypeDefinition<_titus_executor_v1_NetworkInterface, _titus_executor_v1_NetworkInterface__Output>
        PullProgress: MessageTypeDefinition<_titus_executor_v1_PullProgress, _titus_executor_v1_PullProgress__Output>
        Resources: MessageTypeDefinition<_titus_executor_v1_Resources, _titus_executor_v1_Resources__Output>
        SetDrainRequest: MessageTypeDefinition<_titus_executor_v1_SetDrainRequest, _titus_executor_v1_SetDrainRequest__Output>
        SnapshotEnd: MessageTypeDefinition<_titus_executor_v1_SnapshotEnd, _titus_executor_v1_SnapshotEnd__Output>
        Task: MessageTypeDefinition<_titus_executor_v1_Task, _titus_executor_v1_Task__Output>
        TaskState: EnumTypeDefinition
        TaskStatusEvent: MessageTypeDefinition<_titus_executor_v1_TaskStatusEvent, _titus_executor_v1_TaskStatusEvent__Output>
        TaskStatusUpdate: MessageTypeDefinition<_titus_executor_v1_TaskStatusUpdate, _titus_executor_v1_TaskStatusUpdate__Output>
        TitusExecutor: SubtypeConstructor<typeof grpc.Client, _titus_executor_v1_TitusExecutorClient> & { service: _titus_executor_v1_TitusExecutorDefinition }
        WatchTaskStatusRequest: MessageTypeDefinition<_titus_executor_v1_WatchTaskStatusRequest, _titus_executor_v1_WatchTaskStatusRequest__Output>
      }
    }
  }
}

