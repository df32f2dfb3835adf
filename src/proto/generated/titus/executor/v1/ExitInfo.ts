// Original file: proto/titus/executor/v1/executor.proto


export interface ExitInfo {
  'exitCode'?: (number);
  'oomKilled'?: (boolean);
  'signal'?: (string);
}

export interface ExitInfo__Output {
  'exitCode'?: (number);
  'oomKilled'?: (boolean);
  'signal'?: (string);
}
