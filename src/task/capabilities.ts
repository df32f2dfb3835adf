/**
 * Linux capabilities by number (include/uapi/linux/capability.h), without the
 * CAP_ prefix, as ContainerInfo.Capabilities names them and Docker's
 * CapAdd/CapDrop take them. agent.proto's enum stops at AUDIT_READ (37); a
 * newer capability sent by number arrives as that number and is refused.
 */
export const LINUX_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const;

export type LinuxCapability = (typeof LINUX_CAPABILITIES)[number];

const KNOWN: ReadonlySet<string> = new Set(LINUX_CAPABILITIES);

export const isLinuxCapability = (value: unknown): value is LinuxCapability => typeof value === 'string' && KNOWN.has(value);
