// Original file: proto/titus/executor/v1/executor.proto


export interface DiskQuota {
  'mode'?: (string);
  'reason'?: (string);
  'storageDriver'?: (string);
  'backingFilesystem'?: (string);
  'confirmed'?: (boolean);
}

export interface DiskQuota__Output {
  'mode'?: (string);
  'reason'?: (string);
  'storageDriver'?: (string);
  'backingFilesystem'?: (string);
  'confirmed'?: (boolean);
}
