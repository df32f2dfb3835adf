import { readFileSync, statSync } from 'node:fs';

/**
 * What the host's kernel offers for task confinement and devices. Read when
 * a launch asks, so a module loaded or a device created after the executor
 * started counts. Injectable so tests can describe a host this machine is not.
 */
export interface HostSecurityFeatures {
  /** Whether AppArmor is enabled in the kernel (what `aa-enabled` reads). */
  appArmorEnabled(): boolean;
  /** Names of the AppArmor profiles loaded in the kernel; undefined when they cannot be read. */
  appArmorProfiles(): ReadonlySet<string> | undefined;
  /** Whether `path` is a character device node (/dev/fuse, /dev/kvm, /dev/net/tun). */
  isCharDevice(path: string): boolean;
}

const APPARMOR_ENABLED = '/sys/module/apparmor/parameters/enabled';
/** securityfs; lines are `<name> (<mode>)`. */
const APPARMOR_PROFILES = '/sys/kernel/security/apparmor/profiles';

const readOrUndefined = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** Parses securityfs' profile list: `docker-default (enforce)` per line. */
export const parseAppArmorProfiles = (text: string): Set<string> =>
  new Set(
    text
      .split('\n')
      .map((line) => line.replace(/\s+\([a-z]+\)\s*$/, '').trim())
      .filter((name) => name !== ''),
  );

export const hostSecurityFeatures: HostSecurityFeatures = {
  appArmorEnabled: () => readOrUndefined(APPARMOR_ENABLED)?.trim() === 'Y',
  appArmorProfiles: () => {
    const text = readOrUndefined(APPARMOR_PROFILES);
    return text === undefined ? undefined : parseAppArmorProfiles(text);
  },
  isCharDevice: (path) => {
    try {
      return statSync(path).isCharacterDevice();
    } catch {
      return false;
    }
  },
};
