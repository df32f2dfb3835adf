// Original file: proto/titus/executor/v1/executor.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchTaskStatusRequest {
  'taskIds'?: (string)[];
  'sendSnapshot'?: (boolean);
  'afterSequence'?: (number | string | Long);
  'keepaliveSeconds'?: (number);
}

export interface WatchTaskStatusRequest__Output {
  'taskIds': (string)[];
  'sendSnapshot'?: (boolean);
  'afterSequence'?: (string);
  'keepaliveSeconds'?: (number);
}
