// Original file: proto/titus/executor/v1/executor.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp.js';

export interface DrainState {
  'draining'?: (boolean);
  'reason'?: (string);
  'since'?: (_google_protobuf_Timestamp | null);
}

export interface DrainState__Output {
  'draining'?: (boolean);
  'reason'?: (string);
  'since'?: (_google_protobuf_Timestamp__Output);
}
