// Original file: proto/titus/executor/v1/executor.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp.js';
import type { LogStream as _titus_executor_v1_LogStream, LogStream__Output as _titus_executor_v1_LogStream__Output } from '../../../titus/executor/v1/LogStream.js';

export interface LogLine {
  'timestamp'?: (_google_protobuf_Timestamp | null);
  'stream'?: (_titus_executor_v1_LogStream);
  'text'?: (string);
}

export interface LogLine__Output {
  'timestamp'?: (_google_protobuf_Timestamp__Output);
  'stream'?: (_titus_executor_v1_LogStream__Output);
  'text'?: (string);
}
