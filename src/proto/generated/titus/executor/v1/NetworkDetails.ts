// Original file: proto/titus/executor/v1/executor.proto


export interface NetworkDetails {
  'isRoutableIp'?: (boolean);
  'ipv4Address'?: (string);
  'ipv6Address'?: (string);
  'eniId'?: (string);
  'networkMode'?: (string);
  'hostname'?: (string);
}

export interface NetworkDetails__Output {
  'isRoutableIp'?: (boolean);
  'ipv4Address'?: (string);
  'ipv6Address'?: (string);
  'eniId'?: (string);
  'networkMode'?: (string);
  'hostname'?: (string);
}
