// Original file: proto/titus/executor/v1/executor.proto

import type { LogLine as _titus_executor_v1_LogLine, LogLine__Output as _titus_executor_v1_LogLine__Output } from '../../../titus/executor/v1/LogLine.js';

export interface GetLogsResponse {
  'lines'?: (_titus_executor_v1_LogLine)[];
}

export interface GetLogsResponse__Output {
  'lines': (_titus_executor_v1_LogLine__Output)[];
}
