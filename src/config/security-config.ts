import { z } from 'zod';

/** The seccomp profiles the executor always offers; config may add others but not reuse these names. */
export const BUILTIN_SECCOMP_PROFILES = ['default', 'fuse', 'imageBuilding'] as const;

const PROFILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const profileName = z.string().regex(PROFILE_NAME_RE, 'must be 1-63 characters of [A-Za-z0-9_.-], starting with a letter or digit');
/** AppArmor profile names as the kernel lists them; `unconfined` is a name too, so the operator decides. */
const appArmorName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@/-]{0,127}$/, 'is not an AppArmor profile name');

/**
 * `security` in the executor config: the seccomp and AppArmor profiles tasks
 * may ask for, the device nodes FUSE, KVM and tun tasks get, and
 * no-new-privileges (docs/security-profiles.md).
 */
export const securityConfigSchema = z
  .object({
    seccomp: z
      .object({
        /**
         * Extra profiles a task may name (passthrough titusParameter.agent.seccompProfile): name -> JSON file
         * in Docker's profile format. Read at start; an unreadable or invalid file stops the executor.
         */
        profiles: z
          .record(profileName, z.string().min(1))
          .default({})
          .refine((p) => !Object.keys(p).some((n) => (BUILTIN_SECCOMP_PROFILES as readonly string[]).includes(n)), {
            message: `must not redefine a built-in profile (${BUILTIN_SECCOMP_PROFILES.join(', ')})`,
          }),
        /** The profile of a task that names none and is neither a FUSE nor an image-building task; `default` is Docker's own. */
        defaultProfile: profileName.default('default'),
        /** Files for the built-in fuse and imageBuilding profiles; unset: the ones shipped in security/seccomp/. */
        fuseProfileFile: z.string().min(1).optional(),
        imageBuildingProfileFile: z.string().min(1).optional(),
      })
      .refine((s) => (BUILTIN_SECCOMP_PROFILES as readonly string[]).includes(s.defaultProfile) || s.defaultProfile in s.profiles, {
        message: 'defaultProfile must be a built-in profile or one listed in profiles',
        path: ['defaultProfile'],
      })
      .prefault({}),
    apparmor: z
      .object({
        /** Profiles a task may name (passthrough titusParameter.agent.apparmorProfile); they must be loaded on the host. */
        allowedProfiles: z.array(appArmorName).default([]),
        /** Profiles for FUSE and image-building tasks (Titus: docker_fuse, docker_image_building); unset: the engine's default. */
        fuseProfile: appArmorName.optional(),
        imageBuildingProfile: appArmorName.optional(),
      })
      .prefault({}),
    /** Set no-new-privileges on every task (setuid binaries cannot raise privileges). */
    noNewPrivileges: z.boolean().default(true),
    /** Whether a task may turn no-new-privileges off (titusParameter.agent.noNewPrivileges=false) for setuid tools. */
    allowNoNewPrivilegesOptOut: z.boolean().default(true),
    /** Host device nodes passed to FUSE, KVM and tun tasks; a task asking for one the host lacks is refused. */
    devices: z
      .object({
        fuse: z.string().min(1).default('/dev/fuse'),
        kvm: z.string().min(1).default('/dev/kvm'),
        tun: z.string().min(1).default('/dev/net/tun'),
      })
      .prefault({}),
  })
  .strict();

export type SecurityConfig = z.infer<typeof securityConfigSchema>;
