// Original file: proto/titus/executor/v1/executor.proto

import type { Long } from '@grpc/proto-loader';

export interface PullProgress {
  'image'?: (string);
  'currentBytes'?: (number | string | Long);
  'totalBytes'?: (number | string | Long);
  'layersDone'?: (number);
  'layersTotal'?: (number);
}

export interface PullProgress__Output {
  'image'?: (string);
  'currentBytes'?: (string);
  'totalBytes'?: (string);
  'layersDone'?: (number);
  'layersTotal'?: (number);
}
