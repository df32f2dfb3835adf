// Original file: proto/titus/executor/v1/executor.proto

import type { Long } from '@grpc/proto-loader';

export interface DiskUsage {
  'path'?: (string);
  'totalMb'?: (number | string | Long);
  'availableMb'?: (number | string | Long);
}

export interface DiskUsage__Output {
  'path'?: (string);
  'totalMb'?: (string);
  'availableMb'?: (string);
}
