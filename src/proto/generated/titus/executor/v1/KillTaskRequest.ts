// Original file: proto/titus/executor/v1/executor.proto


export interface KillTaskRequest {
  'taskId'?: (string);
  'reason'?: (string);
  'killWaitSeconds'?: (number);
  '_killWaitSeconds'?: "killWaitSeconds";
}

export interface KillTaskRequest__Output {
  'taskId'?: (string);
  'reason'?: (string);
  'killWaitSeconds'?: (number);
  '_killWaitSeconds'?: "killWaitSeconds";
}
