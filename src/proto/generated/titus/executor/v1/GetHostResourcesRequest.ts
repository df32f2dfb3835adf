// Original file: proto/titus/executor/v1/executor.proto


export interface GetHostResourcesRequest {
}

export interface GetHostResourcesRequest__Output {
}
