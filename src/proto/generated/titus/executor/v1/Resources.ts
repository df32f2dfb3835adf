// Original file: proto/titus/executor/v1/executor.proto


export interface Resources {
  'cpu'?: (number | string);
  'memoryMb'?: (number);
  'diskMb'?: (number);
  'networkMbps'?: (number);
  'gpus'?: (number);
}

export interface Resources__Output {
  'cpu'?: (number);
  'memoryMb'?: (number);
  'diskMb'?: (number);
  'networkMbps'?: (number);
  'gpus'?: (number);
}
