import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecurityConfig } from '../config/security-config.js';
import { BUILTIN_SECCOMP_PROFILES } from '../config/security-config.js';
import { ExecutorError, errorMessage, invalidArgument } from '../common/errors.js';
import { packageRoot } from '../common/package-root.js';
import { hostSecurityFeatures, type HostSecurityFeatures } from '../host/security-features.js';
import type { DeviceMapping } from '../runtime/container-spec.js';
import type { ContainerInfo } from './container-info.js';

/**
 * Passthrough attributes that choose a task's confinement and devices
 * (docs/security-profiles.md). fuseEnabled and kvmEnabled are Titus' own
 * names; the others are this executor's, in Titus' namespace, for what Titus
 * offered through pod annotations (ImageBuilding, the AppArmor annotation) or
 * not at all.
 */
export const SECURITY_ATTRIBUTES = {
  fuse: 'titusParameter.agent.fuseEnabled',
  imageBuilding: 'titusParameter.agent.imageBuildingEnabled',
  kvm: 'titusParameter.agent.kvmEnabled',
  tun: 'titusParameter.agent.tunEnabled',
  seccompProfile: 'titusParameter.agent.seccompProfile',
  apparmorProfile: 'titusParameter.agent.apparmorProfile',
  noNewPrivileges: 'titusParameter.agent.noNewPrivileges',
} as const;

/** What a task's container gets for confinement and devices, merged into its spec. */
export interface SecurityPlan {
  readonly securityOpt: readonly string[];
  readonly capAdd: readonly string[];
  readonly devices: readonly DeviceMapping[];
}

const field = (attribute: string): string => `containerInfo.passthroughAttributes.${attribute}`;
const refuse = (attribute: string, message: string): ExecutorError => invalidArgument(field(attribute), message);

/** Go's strconv.ParseBool, which Titus used for these attributes; empty means unset. */
const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);
const boolAttribute = (attrs: Readonly<Record<string, string>>, attribute: string): boolean | undefined => {
  const value = attrs[attribute];
  if (value === undefined || value === '') return undefined;
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw refuse(attribute, `${JSON.stringify(value)} is not a boolean (true or false)`);
};

/** Reads a Docker seccomp profile and returns it compacted, as the engine's `seccomp=<json>` option takes it. */
export const readSeccompProfile = (file: string): string => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ExecutorError('INVALID_ARGUMENT', `invalid configuration: seccomp profile ${file}: ${errorMessage(err)}`);
  }
  const p = parsed as { defaultAction?: unknown; syscalls?: unknown };
  if (typeof parsed !== 'object' || parsed === null || typeof p.defaultAction !== 'string' || (p.syscalls !== undefined && !Array.isArray(p.syscalls))) {
    throw new ExecutorError('INVALID_ARGUMENT', `invalid configuration: seccomp profile ${file} is not a Docker seccomp profile (defaultAction, syscalls)`);
  }
  return JSON.stringify(parsed);
};

/** The shipped FUSE and image-building profiles (security/seccomp/, written by scripts/seccomp-profiles.mjs). */
export const shippedSeccompProfile = (name: 'fuse' | 'image-building'): string => join(packageRoot(), 'security', 'seccomp', `${name}.json`);

/**
 * Turns a task's passthrough attributes into its security options and
 * devices, or refuses the launch naming the attribute. Profiles are read once,
 * at construction (an unreadable one stops the executor's start); the host's
 * AppArmor and device nodes are looked at on every launch.
 */
export class TaskSecurity {
  /** Profile name -> compacted JSON; `default` (Docker's own) has none. */
  private readonly seccomp = new Map<string, string>();

  constructor(
    private readonly config: SecurityConfig,
    private readonly host: HostSecurityFeatures = hostSecurityFeatures,
  ) {
    this.seccomp.set('fuse', readSeccompProfile(config.seccomp.fuseProfileFile ?? shippedSeccompProfile('fuse')));
    this.seccomp.set('imageBuilding', readSeccompProfile(config.seccomp.imageBuildingProfileFile ?? shippedSeccompProfile('image-building')));
    for (const [name, file] of Object.entries(config.seccomp.profiles)) this.seccomp.set(name, readSeccompProfile(file));
    const { fuseProfile, imageBuildingProfile } = config.apparmor;
    if ((fuseProfile !== undefined || imageBuildingProfile !== undefined) && !host.appArmorEnabled()) {
      // Configured for every FUSE task, it would be ignored on every one: refuse to start instead.
      throw new ExecutorError('INVALID_ARGUMENT', 'invalid configuration: security.apparmor names FUSE/image-building profiles but this host has no AppArmor');
    }
  }

  /** Names a task may give in titusParameter.agent.seccompProfile. */
  seccompProfileNames(): string[] {
    return [...BUILTIN_SECCOMP_PROFILES, ...Object.keys(this.config.seccomp.profiles)];
  }

  plan(info: ContainerInfo): SecurityPlan {
    const attrs = info.passthroughAttributes ?? {};
    const A = SECURITY_ATTRIBUTES;
    const fuse = boolAttribute(attrs, A.fuse) === true;
    const imageBuilding = boolAttribute(attrs, A.imageBuilding) === true;
    const kvm = boolAttribute(attrs, A.kvm) === true;
    const tun = boolAttribute(attrs, A.tun) === true;
    if (fuse && imageBuilding) throw refuse(A.imageBuilding, `cannot be combined with ${A.fuse} (a task has one container capability, as in Titus)`);

    const capAdd: string[] = [];
    const devices: DeviceMapping[] = [];
    const dropped = new Set(info.capabilities?.drop ?? []);
    const needCap = (cap: string, attribute: string): void => {
      if (dropped.has(cap)) throw refuse(attribute, `needs ${cap}, which containerInfo.capabilities.drop removes`);
      if (!capAdd.includes(cap)) capAdd.push(cap);
    };
    const needDevice = (hostPath: string, containerPath: string, attribute: string): void => {
      if (!this.host.isCharDevice(hostPath)) throw refuse(attribute, `this host has no ${hostPath} device`);
      if (!devices.some((d) => d.containerPath === containerPath)) devices.push({ hostPath, containerPath, permissions: 'rwm' });
    };
    const dev = this.config.devices;
    // FUSE and image building: mount(2) needs CAP_SYS_ADMIN without a user namespace, as in Titus.
    if (fuse) {
      needCap('SYS_ADMIN', A.fuse);
      needDevice(dev.fuse, '/dev/fuse', A.fuse);
    }
    if (imageBuilding) needCap('SYS_ADMIN', A.imageBuilding);
    // KVM (Titus: /dev/kvm and /dev/net/tun with NET_ADMIN, for the guest's tap device) and tun alone.
    if (kvm) {
      needCap('NET_ADMIN', A.kvm);
      needDevice(dev.kvm, '/dev/kvm', A.kvm);
      needDevice(dev.tun, '/dev/net/tun', A.kvm);
    }
    if (tun) {
      needCap('NET_ADMIN', A.tun);
      needDevice(dev.tun, '/dev/net/tun', A.tun);
    }

    const securityOpt: string[] = [];
    if (this.noNewPrivileges(attrs)) securityOpt.push('no-new-privileges');
    const seccomp = this.seccompFor(attrs, fuse, imageBuilding);
    if (seccomp !== undefined) securityOpt.push(`seccomp=${seccomp}`);
    const apparmor = this.appArmorFor(attrs, fuse, imageBuilding);
    if (apparmor !== undefined) securityOpt.push(`apparmor=${apparmor}`);
    return { securityOpt, capAdd, devices };
  }

  private noNewPrivileges(attrs: Readonly<Record<string, string>>): boolean {
    const asked = boolAttribute(attrs, SECURITY_ATTRIBUTES.noNewPrivileges);
    if (asked === false && this.config.noNewPrivileges && !this.config.allowNoNewPrivilegesOptOut) {
      throw refuse(SECURITY_ATTRIBUTES.noNewPrivileges, 'false is not allowed on this host (security.allowNoNewPrivilegesOptOut is off)');
    }
    return asked ?? this.config.noNewPrivileges;
  }

  /** The compacted profile, or undefined for Docker's own default. */
  private seccompFor(attrs: Readonly<Record<string, string>>, fuse: boolean, imageBuilding: boolean): string | undefined {
    const attribute = SECURITY_ATTRIBUTES.seccompProfile;
    const asked = attrs[attribute];
    let name: string;
    if (asked !== undefined && asked !== '') {
      if (asked !== 'default' && !this.seccomp.has(asked)) {
        throw refuse(attribute, `${JSON.stringify(asked)} is not a seccomp profile this host offers (${this.seccompProfileNames().join(', ')})`);
      }
      name = asked;
    } else {
      name = imageBuilding ? 'imageBuilding' : fuse ? 'fuse' : this.config.seccomp.defaultProfile;
    }
    return name === 'default' ? undefined : this.seccomp.get(name);
  }

  private appArmorFor(attrs: Readonly<Record<string, string>>, fuse: boolean, imageBuilding: boolean): string | undefined {
    const attribute = SECURITY_ATTRIBUTES.apparmorProfile;
    const asked = attrs[attribute];
    if (asked === undefined || asked === '') {
      // Checked at construction: these are only set where the host has AppArmor.
      return imageBuilding ? this.config.apparmor.imageBuildingProfile : fuse ? this.config.apparmor.fuseProfile : undefined;
    }
    if (!this.host.appArmorEnabled()) throw refuse(attribute, 'this host has no AppArmor (the kernel module is not loaded), so no AppArmor profile can be applied');
    if (!this.config.apparmor.allowedProfiles.includes(asked)) {
      const allowed = this.config.apparmor.allowedProfiles;
      throw refuse(attribute, `${JSON.stringify(asked)} is not an AppArmor profile this host allows (${allowed.length > 0 ? allowed.join(', ') : 'none are configured'})`);
    }
    const loaded = this.host.appArmorProfiles();
    if (loaded !== undefined && !loaded.has(asked)) throw refuse(attribute, `AppArmor profile ${JSON.stringify(asked)} is allowed but not loaded on this host`);
    return asked;
  }
}
