#!/usr/bin/env node
// Writes the seccomp profiles titus-executor ships (security/seccomp/*.json).
//
//   node scripts/seccomp-profiles.mjs [outDir]
//
// The profiles follow the model of Docker's default profile: nothing is
// allowed unless listed (a syscall added to the kernel after this was run is
// refused), and the syscalls that reach host-wide kernel state are refused or
// allowed only when the container holds the capability that guards them.
// The allow list is every syscall the kernel headers name (x86_64, i386, x32
// and asm-generic, i.e. arm64) less the DENIED and CAP_GATED sets below, which
// are ours, written from what each syscall does.
//
// fuse.json       = that base + what mounting a FUSE (or any) filesystem needs
//                   without CAP_SYS_ADMIN in the host's user namespace:
//                   unshare/clone with namespace flags, mount and the new
//                   mount API, umount. (Titus' fuse-container.json did the same.)
// image-building.json = fuse.json + pivot_root and keyctl, which container
//                   builders (buildah, runc inside the task) call.
//
// Run it again after a kernel-headers update and commit the result; the unit
// test test/unit/seccomp-profiles.test.ts checks the invariants.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HEADERS = [
  '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
  '/usr/include/x86_64-linux-gnu/asm/unistd_32.h',
  '/usr/include/x86_64-linux-gnu/asm/unistd_x32.h',
  '/usr/include/asm-generic/unistd.h',
];

/** Never allowed: host-wide state no container should touch, or no longer implemented. */
const DENIED = [
  // Kernel keyrings are not namespaced: one task could read or fill another's keys.
  'add_key', 'keyctl', 'request_key',
  // Replacing the running kernel.
  'kexec_load', 'kexec_file_load',
  // Swap is host-wide.
  'swapon', 'swapoff',
  // Changing the root of the mount namespace: only image builders need it.
  'pivot_root',
  // Page-fault handling from user space: a favourite tool for widening kernel races.
  'userfaultfd',
  // io_uring bypasses seccomp for the operations it performs (Docker 25 refuses it too).
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  // Obsolete or unimplemented entry points.
  'uselib', 'ustat', 'sysfs', '_sysctl', 'nfsservctl', 'vm86', 'vm86old', 'create_module', 'get_kernel_syms', 'query_module',
  'afs_syscall', 'tuxcall', 'security', 'getpmsg', 'putpmsg', 'vserver', 'epoll_ctl_old', 'epoll_wait_old',
  'break', 'ftime', 'gtty', 'stty', 'lock', 'mpx', 'prof', 'profil', 'idle',
  // Filtered by argument below, not allowed whole.
  'clone', 'clone3', 'personality',
];

/** Allowed only when the container holds the capability that guards them (Docker's `includes.caps`). */
const CAP_GATED = {
  CAP_SYS_ADMIN: [
    'bpf', 'fanotify_init', 'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_tree',
    'fsopen', 'fsconfig', 'fsmount', 'fspick', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname',
    'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node', 'move_pages', 'migrate_pages'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
};

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may not make namespaces without CAP_SYS_ADMIN. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
/** personality(2) values that change nothing dangerous: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE combos and the query. */
const SAFE_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];
const ENOSYS = 38;

const FUSE_EXTRA = ['clone', 'unshare', 'mount', 'umount', 'umount2', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree'];
const IMAGE_BUILDING_EXTRA = [...FUSE_EXTRA, 'pivot_root', 'keyctl'];

const syscallNames = () => {
  const names = new Set();
  for (const file of HEADERS) {
    if (!existsSync(file)) throw new Error(`${file} is missing: install linux-libc-dev`);
    for (const m of readFileSync(file, 'utf8').matchAll(/^#define __NR_([a-z0-9_]+)\s/gm)) {
      if (m[1] !== 'syscalls' && m[1] !== 'arch_specific_syscall') names.add(m[1]);
    }
  }
  return names;
};

const gated = new Set(Object.values(CAP_GATED).flat());
const sorted = (xs) => [...new Set(xs)].sort();

const profile = (extra) => {
  const allowed = sorted([...syscallNames()].filter((n) => !DENIED.includes(n) && !gated.has(n)));
  const extraSet = new Set(extra);
  const rules = [
    { names: sorted([...allowed, ...extra.filter((n) => n !== 'clone')]), action: 'SCMP_ACT_ALLOW' },
    ...SAFE_PERSONALITIES.map((v) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: v, valueTwo: 0, op: 'SCMP_CMP_EQ' }] })),
  ];
  if (extraSet.has('clone')) {
    rules.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW' });
  } else {
    rules.push(
      // clone's flags are argument 0 on x86 and arm (s390 is not a target).
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    );
  }
  // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
  rules.push(
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['clone3'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
  );
  for (const [cap, names] of Object.entries(CAP_GATED)) {
    const rest = names.filter((n) => !extraSet.has(n));
    if (rest.length > 0) rules.push({ names: sorted(rest), action: 'SCMP_ACT_ALLOW', includes: { caps: [cap] } });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    archMap: [
      { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    ],
    syscalls: rules,
  };
};

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, '..', 'security', 'seccomp');
mkdirSync(out, { recursive: true });
for (const [name, extra] of [['fuse', FUSE_EXTRA], ['image-building', IMAGE_BUILDING_EXTRA]]) {
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(profile(extra), null, 1)}\n`);
}
console.log(`wrote ${out}/fuse.json and ${out}/image-building.json`);
