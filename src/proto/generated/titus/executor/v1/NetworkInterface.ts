// Original file: proto/titus/executor/v1/executor.proto


export interface NetworkInterface {
  'name'?: (string);
  'speedMbps'?: (number);
  'addresses'?: (string)[];
}

export interface NetworkInterface__Output {
  'name'?: (string);
  'speedMbps'?: (number);
  'addresses': (string)[];
}
