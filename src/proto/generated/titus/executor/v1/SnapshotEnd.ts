// Original file: proto/titus/executor/v1/executor.proto

import type { Long } from '@grpc/proto-loader';

export interface SnapshotEnd {
  'sequence'?: (number | string | Long);
}

export interface SnapshotEnd__Output {
  'sequence'?: (string);
}
