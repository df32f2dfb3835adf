/**
 * The security plan from passthrough attributes and config, against a
 * described host (AppArmor on or off, device nodes present or not), and the
 * invariants of the seccomp profiles the package ships. The same options run
 * in real containers in test/runtime/security-profiles.test.ts.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { buildContainerSpec } from '../../src/task/build-container-spec.js';
import { imageRefFor } from '../../src/runtime/image-ref.js';
import { TaskSecurity, shippedSeccompProfile, type SecurityPlan } from '../../src/task/task-security.js';
import { parseAppArmorProfiles, type HostSecurityFeatures } from '../../src/host/security-features.js';
import type { ContainerInfo } from '../../src/task/container-info.js';

const dir = mkdtempSync(join(tmpdir(), 'titus-security-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const host = (over: Partial<{ appArmor: boolean; profiles: string[] | undefined; devices: string[] }> = {}): HostSecurityFeatures => {
  const devices = new Set(over.devices ?? ['/dev/fuse', '/dev/kvm', '/dev/net/tun']);
  return {
    appArmorEnabled: () => over.appArmor ?? false,
    appArmorProfiles: () => ('profiles' in over ? (over.profiles === undefined ? undefined : new Set(over.profiles)) : new Set<string>()),
    isCharDevice: (p) => devices.has(p),
  };
};
const security = (raw: Record<string, unknown> = {}, h: HostSecurityFeatures = host()): TaskSecurity => new TaskSecurity(parseConfig({ security: raw }).security, h);
const attrs = (a: Record<string, string>): ContainerInfo => ({
  imageName: 'org/app',
  passthroughAttributes: Object.fromEntries(Object.entries(a).map(([k, v]) => [`titusParameter.agent.${k}`, v])),
});
const seccompOf = (plan: SecurityPlan): unknown => {
  const opt = plan.securityOpt.find((o) => o.startsWith('seccomp='));
  return opt === undefined ? undefined : JSON.parse(opt.slice('seccomp='.length));
};
const refusedWith = (t: import('tap').Test, fn: () => unknown, field: string, message: RegExp): void => {
  t.throws(fn, { code: 'INVALID_ARGUMENT', field: `containerInfo.passthroughAttributes.titusParameter.agent.${field}`, message });
};

t.test('no attributes: no-new-privileges only, Docker default seccomp, nothing added', async (t) => {
  t.same(security().plan({ imageName: 'x' }), { securityOpt: ['no-new-privileges'], capAdd: [], devices: [] });
});

t.test('FUSE: SYS_ADMIN, /dev/fuse, the shipped fuse profile inline', async (t) => {
  const plan = security().plan(attrs({ fuseEnabled: 'true' }));
  t.same(plan.capAdd, ['SYS_ADMIN']);
  t.same(plan.devices, [{ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rwm' }]);
  t.same(seccompOf(plan), JSON.parse(readFileSync(shippedSeccompProfile('fuse'), 'utf8')));
  t.ok(plan.securityOpt.includes('no-new-privileges'));
  t.notOk(plan.securityOpt.some((o) => o.startsWith('apparmor')), 'no AppArmor option without AppArmor config');
  t.same(security().plan(attrs({ fuseEnabled: 'False' })), security().plan({ imageName: 'x' }), 'false (any Go spelling) is off');
});

t.test('image building: SYS_ADMIN and the image-building profile, no device', async (t) => {
  const plan = security().plan(attrs({ imageBuildingEnabled: 'true' }));
  t.same(plan.capAdd, ['SYS_ADMIN']);
  t.same(plan.devices, []);
  t.same(seccompOf(plan), JSON.parse(readFileSync(shippedSeccompProfile('image-building'), 'utf8')));
});

t.test('KVM: NET_ADMIN, /dev/kvm and /dev/net/tun; tun alone; both once', async (t) => {
  const kvm = security().plan(attrs({ kvmEnabled: '1' }));
  t.same(kvm.capAdd, ['NET_ADMIN']);
  t.same(kvm.devices.map((d) => d.containerPath), ['/dev/kvm', '/dev/net/tun']);
  t.same(security().plan(attrs({ tunEnabled: 'true' })).devices.map((d) => d.containerPath), ['/dev/net/tun']);
  const both = security().plan(attrs({ kvmEnabled: 'true', tunEnabled: 'true', fuseEnabled: 'true' }));
  t.same(both.devices.map((d) => d.containerPath), ['/dev/fuse', '/dev/kvm', '/dev/net/tun'], 'each device once');
  t.same(both.capAdd, ['SYS_ADMIN', 'NET_ADMIN']);
});

t.test('a device the host lacks is refused naming the attribute', async (t) => {
  const noKvm = host({ devices: ['/dev/fuse', '/dev/net/tun'] });
  refusedWith(t, () => security({}, noKvm).plan(attrs({ kvmEnabled: 'true' })), 'kvmEnabled', /this host has no \/dev\/kvm device/);
  refusedWith(t, () => security({}, host({ devices: [] })).plan(attrs({ fuseEnabled: 'true' })), 'fuseEnabled', /this host has no \/dev\/fuse device/);
  refusedWith(t, () => security({}, host({ devices: [] })).plan(attrs({ tunEnabled: 'true' })), 'tunEnabled', /this host has no \/dev\/net\/tun device/);
  t.same(security({}, noKvm).plan(attrs({ tunEnabled: 'true' })).devices.length, 1, 'tun alone still works there');
  const moved = security({ devices: { kvm: '/srv/kvm' } }, host({ devices: ['/srv/kvm', '/dev/net/tun'] })).plan(attrs({ kvmEnabled: 'true' }));
  t.same(moved.devices[0], { hostPath: '/srv/kvm', containerPath: '/dev/kvm', permissions: 'rwm' }, 'the configured host node, at the usual path inside');
});

t.test('malformed and conflicting attributes are refused naming the attribute', async (t) => {
  const s = security();
  refusedWith(t, () => s.plan(attrs({ fuseEnabled: 'yes' })), 'fuseEnabled', /"yes" is not a boolean/);
  refusedWith(t, () => s.plan(attrs({ noNewPrivileges: 'no' })), 'noNewPrivileges', /"no" is not a boolean/);
  refusedWith(t, () => s.plan(attrs({ seccompProfile: 'unconfined' })), 'seccompProfile', /"unconfined" is not a seccomp profile this host offers \(default, fuse, imageBuilding\)/);
  refusedWith(t, () => s.plan(attrs({ fuseEnabled: 'true', imageBuildingEnabled: 'true' })), 'imageBuildingEnabled', /cannot be combined/);
  refusedWith(
    t,
    () => s.plan({ ...attrs({ fuseEnabled: 'true' }), capabilities: { drop: ['SYS_ADMIN'] } }),
    'fuseEnabled',
    /needs SYS_ADMIN, which containerInfo.capabilities.drop removes/,
  );
  t.same(s.plan(attrs({ fuseEnabled: '' })), s.plan({ imageName: 'x' }), 'an empty value is unset');
});

t.test('seccomp: the attribute wins over the mode; config default and custom profiles', async (t) => {
  const custom = join(dir, 'custom.json');
  writeFileSync(custom, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }, null, 2));
  const s = security({ seccomp: { profiles: { strict: custom } } });
  t.same(seccompOf(s.plan(attrs({ seccompProfile: 'strict' }))), JSON.parse(readFileSync(custom, 'utf8')));
  t.notOk(s.plan(attrs({ seccompProfile: 'strict' })).securityOpt.some((o) => o.includes('\n')), 'compacted to one line');
  t.equal(seccompOf(s.plan(attrs({ fuseEnabled: 'true', seccompProfile: 'default' }))), undefined, "default is Docker's own: no seccomp option");
  t.same(s.plan(attrs({ fuseEnabled: 'true', seccompProfile: 'default' })).capAdd, ['SYS_ADMIN'], 'the mode still adds its capability');
  const byDefault = security({ seccomp: { profiles: { strict: custom }, defaultProfile: 'strict' } });
  t.same(seccompOf(byDefault.plan({ imageName: 'x' })), JSON.parse(readFileSync(custom, 'utf8')), 'config defaultProfile applies to plain tasks');
  t.same(seccompOf(byDefault.plan(attrs({ fuseEnabled: 'true' }))), JSON.parse(readFileSync(shippedSeccompProfile('fuse'), 'utf8')), 'FUSE tasks keep the fuse profile');
});

t.test('config: bad profile files stop the start; built-in names cannot be redefined', async (t) => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"syscalls": []}');
  t.throws(() => security({ seccomp: { profiles: { x: bad } } }), { code: 'INVALID_ARGUMENT', message: /bad\.json is not a Docker seccomp profile/ });
  t.throws(() => security({ seccomp: { profiles: { x: join(dir, 'missing.json') } } }), { message: /missing\.json: ENOENT/ });
  t.throws(() => parseConfig({ security: { seccomp: { profiles: { fuse: bad } } } }), { message: /must not redefine a built-in profile/ });
  t.throws(() => parseConfig({ security: { seccomp: { defaultProfile: 'nope' } } }), { message: /security\.seccomp\.defaultProfile: defaultProfile must be a built-in profile/ });
  t.throws(() => parseConfig({ security: { seccomp: { profiles: { 'bad name!': bad } } } }), { message: /security\.seccomp\.profiles/ });
});

t.test('no-new-privileges: on by default, opt-out per task, refused when the operator forbids it', async (t) => {
  t.notOk(security().plan(attrs({ noNewPrivileges: 'false' })).securityOpt.includes('no-new-privileges'));
  refusedWith(t, () => security({ allowNoNewPrivilegesOptOut: false }).plan(attrs({ noNewPrivileges: 'false' })), 'noNewPrivileges', /not allowed on this host/);
  t.notOk(security({ noNewPrivileges: false }).plan({ imageName: 'x' }).securityOpt.includes('no-new-privileges'), 'config default off');
  t.ok(security({ noNewPrivileges: false }).plan(attrs({ noNewPrivileges: 'true' })).securityOpt.includes('no-new-privileges'), 'a task may still ask for it');
});

t.test('AppArmor: refused without AppArmor; allow-list and loaded profiles where there is', async (t) => {
  refusedWith(t, () => security().plan(attrs({ apparmorProfile: 'docker-default' })), 'apparmorProfile', /this host has no AppArmor/);
  const aa = host({ appArmor: true, profiles: ['docker-default', 'docker_fuse', 'titus_custom'] });
  const s = security({ apparmor: { allowedProfiles: ['titus_custom', 'not_loaded'], fuseProfile: 'docker_fuse' } }, aa);
  t.ok(s.plan(attrs({ apparmorProfile: 'titus_custom' })).securityOpt.includes('apparmor=titus_custom'), 'an allowed, loaded profile is applied');
  refusedWith(t, () => s.plan(attrs({ apparmorProfile: 'docker-default' })), 'apparmorProfile', /"docker-default" is not an AppArmor profile this host allows \(titus_custom, not_loaded\)/);
  refusedWith(t, () => s.plan(attrs({ apparmorProfile: 'not_loaded' })), 'apparmorProfile', /allowed but not loaded on this host/);
  t.ok(s.plan(attrs({ fuseEnabled: 'true' })).securityOpt.includes('apparmor=docker_fuse'), 'FUSE tasks get the configured FUSE profile');
  t.notOk(s.plan({ imageName: 'x' }).securityOpt.some((o) => o.startsWith('apparmor')), "other tasks keep the engine's default");
  const unreadable = security({ apparmor: { allowedProfiles: ['p'] } }, host({ appArmor: true, profiles: undefined }));
  t.ok(unreadable.plan(attrs({ apparmorProfile: 'p' })).securityOpt.includes('apparmor=p'), 'when the loaded list cannot be read, the engine decides');
  t.throws(() => security({ apparmor: { fuseProfile: 'docker_fuse' } }), { message: /security\.apparmor names FUSE\/image-building profiles but this host has no AppArmor/ });
  t.same([...parseAppArmorProfiles('docker-default (enforce)\n/usr/bin/man (complain)\nlsb_release (enforce)\n')], ['docker-default', '/usr/bin/man', 'lsb_release']);
});

t.test('the container spec carries the plan: options, capabilities merged with the task’s, devices', async (t) => {
  const config = parseConfig({ executorId: 'ex1' });
  const info: ContainerInfo = { ...attrs({ kvmEnabled: 'true', noNewPrivileges: 'false' }), capabilities: { add: ['NET_ADMIN', 'SYS_PTRACE'] } };
  const launch = { taskId: 'T1', containerInfo: info, resources: { cpu: 1, memoryMb: 64, diskMb: 10, networkMbps: 1, gpus: 0 }, labels: {} };
  const spec = buildContainerSpec({
    launch,
    image: imageRefFor(info, ''),
    imageConfig: { id: 'x', entrypoint: [], cmd: ['/bin/sh'], sizeBytes: 1 },
    env: {},
    config,
    executorPid: 1,
    security: security().plan(info),
  });
  t.same(spec.securityOpt, []);
  t.same(spec.capAdd, ['NET_ADMIN', 'SYS_PTRACE'], 'NET_ADMIN once');
  t.same(spec.devices?.map((d) => d.containerPath), ['/dev/kvm', '/dev/net/tun']);
});

t.test('the shipped profiles: deny by default; fuse adds mount and unshare; image-building adds pivot_root and keyctl', async (t) => {
  type Rule = { names: string[]; action: string; args?: unknown[]; includes?: { caps?: string[] }; excludes?: unknown };
  const load = (name: 'fuse' | 'image-building'): { defaultAction: string; syscalls: Rule[] } => JSON.parse(readFileSync(shippedSeccompProfile(name), 'utf8'));
  /** Syscalls allowed whatever the container's capabilities and arguments. */
  const always = (p: { syscalls: Rule[] }): Set<string> =>
    new Set(p.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && r.args === undefined && r.includes === undefined && r.excludes === undefined).flatMap((r) => r.names));
  const fuse = load('fuse');
  const build = load('image-building');
  for (const p of [fuse, build]) t.equal(p.defaultAction, 'SCMP_ACT_ERRNO', 'anything not listed is refused');
  const fuseAllowed = always(fuse);
  const buildAllowed = always(build);
  for (const name of ['read', 'write', 'openat', 'execve', 'mmap', 'futex', 'exit_group', 'socket', 'ptrace']) t.ok(fuseAllowed.has(name), `${name} allowed`);
  for (const name of ['mount', 'umount2', 'unshare', 'clone', 'fsopen', 'fsmount', 'move_mount']) t.ok(fuseAllowed.has(name), `fuse allows ${name}`);
  for (const name of ['pivot_root', 'keyctl', 'add_key', 'kexec_load', 'init_module', 'bpf', 'setns', 'reboot', 'open_by_handle_at', 'userfaultfd', 'io_uring_setup']) {
    t.notOk(fuseAllowed.has(name), `fuse does not allow ${name} unconditionally`);
  }
  t.same([...buildAllowed].filter((n) => !fuseAllowed.has(n)).sort(), ['keyctl', 'pivot_root'], 'image-building adds exactly pivot_root and keyctl');
  t.same([...fuseAllowed].filter((n) => !buildAllowed.has(n)), [], 'and removes nothing');
  const gated = (p: { syscalls: Rule[] }, cap: string): string[] => p.syscalls.filter((r) => r.includes?.caps?.includes(cap)).flatMap((r) => r.names);
  t.ok(gated(fuse, 'CAP_SYS_MODULE').includes('init_module'), 'module loading only with CAP_SYS_MODULE');
  t.ok(gated(fuse, 'CAP_SYS_ADMIN').includes('setns'), 'setns only with CAP_SYS_ADMIN');
});
