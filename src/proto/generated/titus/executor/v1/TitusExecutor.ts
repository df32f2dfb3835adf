// Original file: proto/titus/executor/v1/executor.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DrainState as _titus_executor_v1_DrainState, DrainState__Output as _titus_executor_v1_DrainState__Output } from '../../../titus/executor/v1/DrainState.js';
import type { GetHostResourcesRequest as _titus_executor_v1_GetHostResourcesRequest, GetHostResourcesRequest__Output as _titus_executor_v1_GetHostResourcesRequest__Output } from '../../../titus/executor/v1/GetHostResourcesRequest.js';
import type { GetLogsRequest as _titus_executor_v1_GetLogsRequest, GetLogsRequest__Output as _titus_executor_v1_GetLogsRequest__Output } from '../../../titus/executor/v1/GetLogsRequest.js';
import type { GetLogsResponse as _titus_executor_v1_GetLogsResponse, GetLogsResponse__Output as _titus_executor_v1_GetLogsResponse__Output } from '../../../titus/executor/v1/GetLogsResponse.js';
import type { GetTaskRequest as _titus_executor_v1_GetTaskRequest, GetTaskRequest__Output as _titus_executor_v1_GetTaskRequest__Output } from '../../../titus/executor/v1/GetTaskRequest.js';
import type { HostResources as _titus_executor_v1_HostResources, HostResources__Output as _titus_executor_v1_HostResources__Output } from '../../../titus/executor/v1/HostResources.js';
import type { KillTaskRequest as _titus_executor_v1_KillTaskRequest, KillTaskRequest__Output as _titus_executor_v1_KillTaskRequest__Output } from '../../../titus/executor/v1/KillTaskRequest.js';
import type { KillTaskResponse as _titus_executor_v1_KillTaskResponse, KillTaskResponse__Output as _titus_executor_v1_KillTaskResponse__Output } from '../../../titus/executor/v1/KillTaskResponse.js';
import type { LaunchTaskRequest as _titus_executor_v1_LaunchTaskRequest, LaunchTaskRequest__Output as _titus_executor_v1_LaunchTaskRequest__Output } from '../../../titus/executor/v1/LaunchTaskRequest.js';
import type { LaunchTaskResponse as _titus_executor_v1_LaunchTaskResponse, LaunchTaskResponse__Output as _titus_executor_v1_LaunchTaskResponse__Output } from '../../../titus/executor/v1/LaunchTaskResponse.js';
import type { ListTasksRequest as _titus_executor_v1_ListTasksRequest, ListTasksRequest__Output as _titus_executor_v1_ListTasksRequest__Output } from '../../../titus/executor/v1/ListTasksRequest.js';
import type { ListTasksResponse as _titus_executor_v1_ListTasksResponse, ListTasksResponse__Output as _titus_executor_v1_ListTasksResponse__Output } from '../../../titus/executor/v1/ListTasksResponse.js';
import type { SetDrainRequest as _titus_executor_v1_SetDrainRequest, SetDrainRequest__Output as _titus_executor_v1_SetDrainRequest__Output } from '../../../titus/executor/v1/SetDrainRequest.js';
import type { Task as _titus_executor_v1_Task, Task__Output as _titus_executor_v1_Task__Output } from '../../../titus/executor/v1/Task.js';
import type { TaskStatusEvent as _titus_executor_v1_TaskStatusEvent, TaskStatusEvent__Output as _titus_executor_v1_TaskStatusEvent__Output } from '../../../titus/executor/v1/TaskStatusEvent.js';
import type { WatchTaskStatusRequest as _titus_executor_v1_WatchTaskStatusRequest, WatchTaskStatusRequest__Output as _titus_executor_v1_WatchTaskStatusRequest__Output } from '../../../titus/executor/v1/WatchTaskStatusRequest.js';

export interface TitusExecutorClient extends grpc.Client {
  GetHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  GetHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  GetHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  GetHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  getHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  getHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  getHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  getHostResources(argument: _titus_executor_v1_GetHostResourcesRequest, callback: grpc.requestCallback<_titus_executor_v1_HostResources__Output>): grpc.ClientUnaryCall;
  
  GetLogs(argument: _titus_executor_v1_GetLogsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_GetLogsResponse__Output>;
  GetLogs(argument: _titus_executor_v1_GetLogsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_GetLogsResponse__Output>;
  getLogs(argument: _titus_executor_v1_GetLogsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_GetLogsResponse__Output>;
  getLogs(argument: _titus_executor_v1_GetLogsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_GetLogsResponse__Output>;
  
  GetTask(argument: _titus_executor_v1_GetTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  GetTask(argument: _titus_executor_v1_GetTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  GetTask(argument: _titus_executor_v1_GetTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  GetTask(argument: _titus_executor_v1_GetTaskRequest, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  getTask(argument: _titus_executor_v1_GetTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  getTask(argument: _titus_executor_v1_GetTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  getTask(argument: _titus_executor_v1_GetTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  getTask(argument: _titus_executor_v1_GetTaskRequest, callback: grpc.requestCallback<_titus_executor_v1_Task__Output>): grpc.ClientUnaryCall;
  
  KillTask(argument: _titus_executor_v1_KillTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  KillTask(argument: _titus_executor_v1_KillTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  KillTask(argument: _titus_executor_v1_KillTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  KillTask(argument: _titus_executor_v1_KillTaskRequest, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  killTask(argument: _titus_executor_v1_KillTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  killTask(argument: _titus_executor_v1_KillTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  killTask(argument: _titus_executor_v1_KillTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  killTask(argument: _titus_executor_v1_KillTaskRequest, callback: grpc.requestCallback<_titus_executor_v1_KillTaskResponse__Output>): grpc.ClientUnaryCall;
  
  LaunchTask(argument: _titus_executor_v1_LaunchTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  LaunchTask(argument: _titus_executor_v1_LaunchTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  LaunchTask(argument: _titus_executor_v1_LaunchTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  LaunchTask(argument: _titus_executor_v1_LaunchTaskRequest, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  launchTask(argument: _titus_executor_v1_LaunchTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  launchTask(argument: _titus_executor_v1_LaunchTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  launchTask(argument: _titus_executor_v1_LaunchTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  launchTask(argument: _titus_executor_v1_LaunchTaskRequest, callback: grpc.requestCallback<_titus_executor_v1_LaunchTaskResponse__Output>): grpc.ClientUnaryCall;
  
  ListTasks(argument: _titus_executor_v1_ListTasksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  ListTasks(argument: _titus_executor_v1_ListTasksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  ListTasks(argument: _titus_executor_v1_ListTasksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  ListTasks(argument: _titus_executor_v1_ListTasksRequest, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _titus_executor_v1_ListTasksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _titus_executor_v1_ListTasksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _titus_executor_v1_ListTasksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _titus_executor_v1_ListTasksRequest, callback: grpc.requestCallback<_titus_executor_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  
  SetDrain(argument: _titus_executor_v1_SetDrainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  SetDrain(argument: _titus_executor_v1_SetDrainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  SetDrain(argument: _titus_executor_v1_SetDrainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  SetDrain(argument: _titus_executor_v1_SetDrainRequest, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  setDrain(argument: _titus_executor_v1_SetDrainRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  setDrain(argument: _titus_executor_v1_SetDrainRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  setDrain(argument: _titus_executor_v1_SetDrainRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  setDrain(argument: _titus_executor_v1_SetDrainRequest, callback: grpc.requestCallback<_titus_executor_v1_DrainState__Output>): grpc.ClientUnaryCall;
  
  WatchTaskStatus(argument: _titus_executor_v1_WatchTaskStatusRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_TaskStatusEvent__Output>;
  WatchTaskStatus(argument: _titus_executor_v1_WatchTaskStatusRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_TaskStatusEvent__Output>;
  watchTaskStatus(argument: _titus_executor_v1_WatchTaskStatusRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_TaskStatusEvent__Output>;
  watchTaskStatus(argument: _titus_executor_v1_WatchTaskStatusRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_titus_executor_v1_TaskStatusEvent__Output>;
  
}

export interface TitusExecutorHandlers extends grpc.UntypedServiceImplementation {
  GetHostResources: grpc.handleUnaryCall<_titus_executor_v1_GetHostResourcesRequest__Output, _titus_executor_v1_HostResources>;
  
  GetLogs: grpc.handleServerStreamingCall<_titus_executor_v1_GetLogsRequest__Output, _titus_executor_v1_GetLogsResponse>;
  
  GetTask: grpc.handleUnaryCall<_titus_executor_v1_GetTaskRequest__Output, _titus_executor_v1_Task>;
  
  KillTask: grpc.handleUnaryCall<_titus_executor_v1_KillTaskRequest__Output, _titus_executor_v1_KillTaskResponse>;
  
  LaunchTask: grpc.handleUnaryCall<_titus_executor_v1_LaunchTaskRequest__Output, _titus_executor_v1_LaunchTaskResponse>;
  
  ListTasks: grpc.handleUnaryCall<_titus_executor_v1_ListTasksRequest__Output, _titus_executor_v1_ListTasksResponse>;
  
  SetDrain: grpc.handleUnaryCall<_titus_executor_v1_SetDrainRequest__Output, _titus_executor_v1_DrainState>;
  
  WatchTaskStatus: grpc.handleServerStreamingCall<_titus_executor_v1_WatchTaskStatusRequest__Output, _titus_executor_v1_TaskStatusEvent>;
  
}

export interface TitusExecutorDefinition extends grpc.ServiceDefinition {
  GetHostResources: MethodDefinition<_titus_executor_v1_GetHostResourcesRequest, _titus_executor_v1_HostResources, _titus_executor_v1_GetHostResourcesRequest__Output, _titus_executor_v1_HostResources__Output>
  GetLogs: MethodDefinition<_titus_executor_v1_GetLogsRequest, _titus_executor_v1_GetLogsResponse, _titus_executor_v1_GetLogsRequest__Output, _titus_executor_v1_GetLogsResponse__Output>
  GetTask: MethodDefinition<_titus_executor_v1_GetTaskRequest, _titus_executor_v1_Task, _titus_executor_v1_GetTaskRequest__Output, _titus_executor_v1_Task__Output>
  KillTask: MethodDefinition<_titus_executor_v1_KillTaskRequest, _titus_executor_v1_KillTaskResponse, _titus_executor_v1_KillTaskRequest__Output, _titus_executor_v1_KillTaskResponse__Output>
  LaunchTask: MethodDefinition<_titus_executor_v1_LaunchTaskRequest, _titus_executor_v1_LaunchTaskResponse, _titus_executor_v1_LaunchTaskRequest__Output, _titus_executor_v1_LaunchTaskResponse__Output>
  ListTasks: MethodDefinition<_titus_executor_v1_ListTasksRequest, _titus_executor_v1_ListTasksResponse, _titus_executor_v1_ListTasksRequest__Output, _titus_executor_v1_ListTasksResponse__Output>
  SetDrain: MethodDefinition<_titus_executor_v1_SetDrainRequest, _titus_executor_v1_DrainState, _titus_executor_v1_SetDrainRequest__Output, _titus_executor_v1_DrainState__Output>
  WatchTaskStatus: MethodDefinition<_titus_executor_v1_WatchTaskStatusRequest, _titus_executor_v1_TaskStatusEvent, _titus_executor_v1_WatchTaskStatusRequest__Output, _titus_executor_v1_TaskStatusEvent__Output>
}
