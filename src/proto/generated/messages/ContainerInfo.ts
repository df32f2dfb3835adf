// Original file: proto/netflix/titus/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface _messages_ContainerInfo_Capabilities {
  'add'?: (_messages_ContainerInfo_Capabilities_Capability)[];
  'drop'?: (_messages_ContainerInfo_Capabilities_Capability)[];
}

export interface _messages_ContainerInfo_Capabilities__Output {
  'add': (_messages_ContainerInfo_Capabilities_Capability__Output)[];
  'drop': (_messages_ContainerInfo_Capabilities_Capability__Output)[];
}

// Original file: proto/netflix/titus/agent.proto

export const _messages_ContainerInfo_Capabilities_Capability = {
  CHOWN: 'CHOWN',
  DAC_OVERRIDE: 'DAC_OVERRIDE',
  DAC_READ_SEARCH: 'DAC_READ_SEARCH',
  FOWNER: 'FOWNER',
  FSETID: 'FSETID',
  KILL: 'KILL',
  SETGID: 'SETGID',
  SETUID: 'SETUID',
  SETPCAP: 'SETPCAP',
  LINUX_IMMUTABLE: 'LINUX_IMMUTABLE',
  NET_BIND_SERVICE: 'NET_BIND_SERVICE',
  NET_BROADCAST: 'NET_BROADCAST',
  NET_ADMIN: 'NET_ADMIN',
  NET_RAW: 'NET_RAW',
  IPC_LOCK: 'IPC_LOCK',
  IPC_OWNER: 'IPC_OWNER',
  SYS_MODULE: 'SYS_MODULE',
  SYS_RAWIO: 'SYS_RAWIO',
  SYS_CHROOT: 'SYS_CHROOT',
  SYS_PTRACE: 'SYS_PTRACE',
  SYS_PACCT: 'SYS_PACCT',
  SYS_ADMIN: 'SYS_ADMIN',
  SYS_BOOT: 'SYS_BOOT',
  SYS_NICE: 'SYS_NICE',
  SYS_RESOURCE: 'SYS_RESOURCE',
  SYS_TIME: 'SYS_TIME',
  SYS_TTY_CONFIG: 'SYS_TTY_CONFIG',
  MKNOD: 'MKNOD',
  LEASE: 'LEASE',
  AUDIT_WRITE: 'AUDIT_WRITE',
  AUDIT_CONTROL: 'AUDIT_CONTROL',
  SETFCAP: 'SETFCAP',
  MAC_OVERRIDE: 'MAC_OVERRIDE',
  MAC_ADMIN: 'MAC_ADMIN',
  SYSLOG: 'SYSLOG',
  WAKE_ALARM: 'WAKE_ALARM',
  BLOCK_SUSPEND: 'BLOCK_SUSPEND',
  AUDIT_READ: 'AUDIT_READ',
} as const;

export type _messages_ContainerInfo_Capabilities_Capability =
  | 'CHOWN'
  | 0
  | 'DAC_OVERRIDE'
  | 1
  | 'DAC_READ_SEARCH'
  | 2
  | 'FOWNER'
  | 3
  | 'FSETID'
  | 4
  | 'KILL'
  | 5
  | 'SETGID'
  | 6
  | 'SETUID'
  | 7
  | 'SETPCAP'
  | 8
  | 'LINUX_IMMUTABLE'
  | 9
  | 'NET_BIND_SERVICE'
  | 10
  | 'NET_BROADCAST'
  | 11
  | 'NET_ADMIN'
  | 12
  | 'NET_RAW'
  | 13
  | 'IPC_LOCK'
  | 14
  | 'IPC_OWNER'
  | 15
  | 'SYS_MODULE'
  | 16
  | 'SYS_RAWIO'
  | 17
  | 'SYS_CHROOT'
  | 18
  | 'SYS_PTRACE'
  | 19
  | 'SYS_PACCT'
  | 20
  | 'SYS_ADMIN'
  | 21
  | 'SYS_BOOT'
  | 22
  | 'SYS_NICE'
  | 23
  | 'SYS_RESOURCE'
  | 24
  | 'SYS_TIME'
  | 25
  | 'SYS_TTY_CONFIG'
  | 26
  | 'MKNOD'
  | 27
  | 'LEASE'
  | 28
  | 'AUDIT_WRITE'
  | 29
  | 'AUDIT_CONTROL'
  | 30
  | 'SETFCAP'
  | 31
  | 'MAC_OVERRIDE'
  | 32
  | 'MAC_ADMIN'
  | 33
  | 'SYSLOG'
  | 34
  | 'WAKE_ALARM'
  | 35
  | 'BLOCK_SUSPEND'
  | 36
  | 'AUDIT_READ'
  | 37

export type _messages_ContainerInfo_Capabilities_Capability__Output = typeof _messages_ContainerInfo_Capabilities_Capability[keyof typeof _messages_ContainerInfo_Capabilities_Capability]

export interface _messages_ContainerInfo_EfsConfigInfo {
  'efsFsId'?: (string);
  'mountPoint'?: (string);
  'mntPerms'?: (_messages_ContainerInfo_EfsConfigInfo_MountPerms);
  'efsFsRelativeMntPoint'?: (string);
}

export interface _messages_ContainerInfo_EfsConfigInfo__Output {
  'efsFsId'?: (string);
  'mountPoint'?: (string);
  'mntPerms'?: (_messages_ContainerInfo_EfsConfigInfo_MountPerms__Output);
  'efsFsRelativeMntPoint'?: (string);
}

export interface _messages_ContainerInfo_EnvironmentVariable {
  'name'?: (string);
  'value'?: (string);
}

export interface _messages_ContainerInfo_EnvironmentVariable__Output {
  'name'?: (string);
  'value'?: (string);
}

export interface _messages_ContainerInfo_MetatronCreds {
  'appMetadata'?: (string);
  'metadataSig'?: (string);
}

export interface _messages_ContainerInfo_MetatronCreds__Output {
  'appMetadata'?: (string);
  'metadataSig'?: (string);
}

// Original file: proto/netflix/titus/agent.proto

export const _messages_ContainerInfo_EfsConfigInfo_MountPerms = {
  RW: 'RW',
  RO: 'RO',
  WO: 'WO',
} as const;

export type _messages_ContainerInfo_EfsConfigInfo_MountPerms =
  | 'RW'
  | 1
  | 'RO'
  | 2
  | 'WO'
  | 3

export type _messages_ContainerInfo_EfsConfigInfo_MountPerms__Output = typeof _messages_ContainerInfo_EfsConfigInfo_MountPerms[keyof typeof _messages_ContainerInfo_EfsConfigInfo_MountPerms]

export interface _messages_ContainerInfo_NetworkConfigInfo {
  'eniLablel'?: (string);
  'securityGroups'?: (string)[];
  'bandwidthLimitMbps'?: (number);
  'eniLabel'?: (string);
}

export interface _messages_ContainerInfo_NetworkConfigInfo__Output {
  'eniLablel'?: (string);
  'securityGroups': (string)[];
  'bandwidthLimitMbps'?: (number);
  'eniLabel'?: (string);
}

export interface _messages_ContainerInfo_Process {
  'entrypoint'?: (string)[];
  'command'?: (string)[];
}

export interface _messages_ContainerInfo_Process__Output {
  'entrypoint': (string)[];
  'command': (string)[];
}

export interface _messages_ContainerInfo_S3LogLocation {
  'bucket'?: (string);
  'prefix'?: (string);
}

export interface _messages_ContainerInfo_S3LogLocation__Output {
  'bucket'?: (string);
  'prefix'?: (string);
}

export interface ContainerInfo {
  'imageName'?: (string);
  'version'?: (string);
  'environmentVariable'?: (_messages_ContainerInfo_EnvironmentVariable)[];
  'jobId'?: (string);
  'logUploadRegexp'?: (string);
  'entrypointStr'?: (string);
  'appName'?: (string);
  'jobGroupStack'?: (string);
  'jobGroupDetail'?: (string);
  'iamProfile'?: (string);
  'networkConfigInfo'?: (_messages_ContainerInfo_NetworkConfigInfo | null);
  'jobGroupSequence'?: (string);
  'numGpus'?: (number);
  'efsConfigInfo'?: (_messages_ContainerInfo_EfsConfigInfo)[];
  'capabilities'?: (_messages_ContainerInfo_Capabilities | null);
  'metatronCreds'?: (_messages_ContainerInfo_MetatronCreds | null);
  'userProvidedEnv'?: ({[key: string]: string});
  'titusProvidedEnv'?: ({[key: string]: string});
  'imageDigest'?: (string);
  'allowNetworkBursting'?: (boolean);
  'killWaitSeconds'?: (number);
  'ignoreLaunchGuard'?: (boolean);
  'allowNestedContainers'?: (boolean);
  'fullyQualifiedImage'?: (string);
  'allowCpuBursting'?: (boolean);
  'batch'?: (boolean);
  'oomScoreAdj'?: (number);
  'passthroughAttributes'?: ({[key: string]: string});
  'process'?: (_messages_ContainerInfo_Process | null);
  'shmSizeMB'?: (number);
  'signedAddressAllocation'?: (Buffer | Uint8Array | string);
  'jobAcceptedTimestampMs'?: (number | string | Long);
}

export interface ContainerInfo__Output {
  'imageName'?: (string);
  'version'?: (string);
  'environmentVariable': (_messages_ContainerInfo_EnvironmentVariable__Output)[];
  'jobId'?: (string);
  'logUploadRegexp'?: (string);
  'entrypointStr'?: (string);
  'appName'?: (string);
  'jobGroupStack'?: (string);
  'jobGroupDetail'?: (string);
  'iamProfile'?: (string);
  'networkConfigInfo'?: (_messages_ContainerInfo_NetworkConfigInfo__Output);
  'jobGroupSequence'?: (string);
  'numGpus'?: (number);
  'efsConfigInfo': (_messages_ContainerInfo_EfsConfigInfo__Output)[];
  'capabilities'?: (_messages_ContainerInfo_Capabilities__Output);
  'metatronCreds'?: (_messages_ContainerInfo_MetatronCreds__Output);
  'userProvidedEnv'?: ({[key: string]: string});
  'titusProvidedEnv'?: ({[key: string]: string});
  'imageDigest'?: (string);
  'allowNetworkBursting'?: (boolean);
  'killWaitSeconds'?: (number);
  'ignoreLaunchGuard'?: (boolean);
  'allowNestedContainers'?: (boolean);
  'fullyQualifiedImage'?: (string);
  'allowCpuBursting'?: (boolean);
  'batch'?: (boolean);
  'oomScoreAdj'?: (number);
  'passthroughAttributes'?: ({[key: string]: string});
  'process'?: (_messages_ContainerInfo_Process__Output);
  'shmSizeMB'?: (number);
  'signedAddressAllocation'?: (Buffer);
  'jobAcceptedTimestampMs'?: (string);
}
