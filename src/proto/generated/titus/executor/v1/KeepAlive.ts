// Original file: proto/titus/executor/v1/executor.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp.js';
import type { Long } from '@grpc/proto-loader';

export interface KeepAlive {
  'timestamp'?: (_google_protobuf_Timestamp | null);
  'sequence'?: (number | string | Long);
}

export interface KeepAlive__Output {
  'timestamp'?: (_google_protobuf_Timestamp__Output);
  'sequence'?: (string);
}
