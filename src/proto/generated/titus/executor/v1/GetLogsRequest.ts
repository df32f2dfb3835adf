// Original file: proto/titus/executor/v1/executor.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp.js';

export interface GetLogsRequest {
  'taskId'?: (string);
  'tailLines'?: (number);
  'since'?: (_google_protobuf_Timestamp | null);
  'follow'?: (boolean);
}

export interface GetLogsRequest__Output {
  'taskId'?: (string);
  'tailLines'?: (number);
  'since'?: (_google_protobuf_Timestamp__Output);
  'follow'?: (boolean);
}
