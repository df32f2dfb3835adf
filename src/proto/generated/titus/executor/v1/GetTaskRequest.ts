// Original file: proto/titus/executor/v1/executor.proto


export interface GetTaskRequest {
  'taskId'?: (string);
}

export interface GetTaskRequest__Output {
  'taskId'?: (string);
}
