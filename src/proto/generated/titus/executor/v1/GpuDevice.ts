// Original file: proto/titus/executor/v1/executor.proto


export interface GpuDevice {
  'index'?: (number);
  'uuid'?: (string);
  'name'?: (string);
  'memoryMib'?: (number);
  'pciBusId'?: (string);
  'taskId'?: (string);
}

export interface GpuDevice__Output {
  'index'?: (number);
  'uuid'?: (string);
  'name'?: (string);
  'memoryMib'?: (number);
  'pciBusId'?: (string);
  'taskId'?: (string);
}
