// Original file: proto/titus/executor/v1/executor.proto


export interface SetDrainRequest {
  'draining'?: (boolean);
  'reason'?: (string);
}

export interface SetDrainRequest__Output {
  'draining'?: (boolean);
  'reason'?: (string);
}
