/**
 * Seccomp profiles, FUSE/KVM/tun devices, capabilities and no-new-privileges
 * chosen by passthrough attributes, checked from inside real containers on the
 * harness dockerd: what /proc/self/status says, which syscalls fail, which
 * device nodes open. Refusals at the edge are checked through the gRPC door.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executorSuite, uniqueTaskId } from '../helpers/executor.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';

// A custom profile the operator lists in config: everything allowed but mkdir.
const profileDir = mkdtempSync(join(tmpdir(), 'titus-seccomp-'));
t.teardown(() => rmSync(profileDir, { recursive: true, force: true }));
const noMkdir = join(profileDir, 'no-mkdir.json');
writeFileSync(noMkdir, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));

const suite = executorSuite(t, { security: { seccomp: { profiles: { 'no-mkdir': noMkdir } } } });
const test = suite.test;

const ATTR = 'titusParameter.agent.';
const SYS_ADMIN = 1n << 21n;
const NET_ADMIN = 1n << 12n;

/** Runs `script` in busybox with these passthrough attributes; returns its output (the task must finish). */
const runScript = async (t: import('tap').Test, script: string, attributes: Record<string, string> = {}): Promise<string> => {
  const taskId = uniqueTaskId('sec');
  const info: ContainerInfo = {
    fullyQualifiedImage: suite.h.images.busyboxRepo,
    process: { command: ['sh', '-c', script] },
    passthroughAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`${ATTR}${k}`, v])),
  };
  const all = await suite.ex.run({ taskId, containerInfo: info });
  const end = all[all.length - 1];
  const output = (await suite.ex.get(taskId)).outputTail ?? '';
  t.equal(end?.state, 'TASK_STATE_FINISHED', `${JSON.stringify(attributes)}: ${end?.message ?? ''}\n${output}`);
  return output;
};

/** `Name:\tvalue` from /proc/self/status as the script printed it. */
const status = (output: string, name: string): string => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(output)?.[1] ?? '';
const capEff = (output: string): bigint => BigInt(`0x${status(output, 'CapEff') || '0'}`);
const STATUS = `grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status`;
/** Prints `<name>=ok` or `<name>=fail` for a command. */
const probe = (name: string, command: string): string => `if ( ${command} ) >/dev/null 2>&1; then echo ${name}=ok; else echo ${name}=fail; fi`;
const result = (output: string, name: string): string => new RegExp(`^${name}=(ok|fail)$`, 'm').exec(output)?.[1] ?? 'missing';

// A user namespace and a tmpfs mount in it: Docker's default profile refuses unshare(2) without CAP_SYS_ADMIN.
const USERNS_MOUNT = probe('userns_mount', `unshare -U -r -m sh -c 'mount -t tmpfs none /tmp'`);
// pivot_root inside that namespace: only the image-building profile allows it.
const USERNS_PIVOT = probe('pivot', `unshare -U -r -m sh -c 'mkdir -p /tmp/r && mount -t tmpfs none /tmp/r && mkdir /tmp/r/old && cd /tmp/r && pivot_root . old'`);
const DEVICES = [
  probe('fuse', '[ -c /dev/fuse ] && exec 3<>/dev/fuse'),
  probe('kvm', '[ -c /dev/kvm ] && exec 3<>/dev/kvm'),
  probe('tun', '[ -c /dev/net/tun ] && exec 3<>/dev/net/tun'),
].join('; ');

test('by default: no-new-privileges, Docker default seccomp, no SYS_ADMIN, no user namespace, no devices', async (t) => {
  const out = await runScript(t, [STATUS, USERNS_MOUNT, DEVICES].join('; '));
  t.equal(status(out, 'NoNewPrivs'), '1', 'NoNewPrivs is set');
  t.equal(status(out, 'Seccomp'), '2', 'a seccomp filter is on');
  t.equal(capEff(out) & SYS_ADMIN, 0n, 'no CAP_SYS_ADMIN');
  t.equal(capEff(out) & NET_ADMIN, 0n, 'no CAP_NET_ADMIN');
  t.equal(result(out, 'userns_mount'), 'fail', "Docker's default profile refuses unshare without CAP_SYS_ADMIN");
  t.equal(result(out, 'fuse'), 'fail', 'no /dev/fuse');
  t.equal(result(out, 'kvm'), 'fail', 'no /dev/kvm');
  t.equal(result(out, 'tun'), 'fail', 'no /dev/net/tun');
});

test('seccompProfile=fuse allows unshare and mount, without adding a capability', async (t) => {
  const out = await runScript(t, [STATUS, USERNS_MOUNT, USERNS_PIVOT].join('; '), { seccompProfile: 'fuse' });
  t.equal(status(out, 'Seccomp'), '2', 'still filtered');
  t.equal(capEff(out) & SYS_ADMIN, 0n, 'no CAP_SYS_ADMIN');
  t.equal(result(out, 'userns_mount'), 'ok', 'unshare and mount in a user namespace work');
  t.equal(result(out, 'pivot'), 'fail', 'pivot_root stays refused');
});

test('seccompProfile=imageBuilding also allows pivot_root', async (t) => {
  const out = await runScript(t, [USERNS_MOUNT, USERNS_PIVOT].join('; '), { seccompProfile: 'imageBuilding' });
  t.equal(result(out, 'userns_mount'), 'ok');
  t.equal(result(out, 'pivot'), 'ok', 'pivot_root works');
});

test('fuseEnabled gives /dev/fuse and CAP_SYS_ADMIN, and mount works', async (t) => {
  const out = await runScript(t, [STATUS, DEVICES, probe('mount', 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m')].join('; '), { fuseEnabled: 'true' });
  t.equal(result(out, 'fuse'), 'ok', '/dev/fuse opens read-write');
  t.equal(result(out, 'kvm'), 'fail', 'no /dev/kvm');
  t.not(capEff(out) & SYS_ADMIN, 0n, 'CAP_SYS_ADMIN');
  t.equal(result(out, 'mount'), 'ok', 'mount(2) works');
  t.equal(status(out, 'NoNewPrivs'), '1', 'no-new-privileges stays on');
});

test('kvmEnabled gives /dev/kvm, /dev/net/tun and CAP_NET_ADMIN; tunEnabled only /dev/net/tun', async (t) => {
  const kvm = await runScript(t, [STATUS, DEVICES].join('; '), { kvmEnabled: 'true' });
  t.equal(result(kvm, 'kvm'), 'ok', '/dev/kvm opens');
  t.equal(result(kvm, 'tun'), 'ok', '/dev/net/tun opens');
  t.equal(result(kvm, 'fuse'), 'fail', 'no /dev/fuse');
  t.not(capEff(kvm) & NET_ADMIN, 0n, 'CAP_NET_ADMIN');
  t.equal(capEff(kvm) & SYS_ADMIN, 0n, 'no CAP_SYS_ADMIN');
  const tun = await runScript(t, [STATUS, DEVICES].join('; '), { tunEnabled: 'true' });
  t.equal(result(tun, 'tun'), 'ok', '/dev/net/tun opens');
  t.equal(result(tun, 'kvm'), 'fail', 'no /dev/kvm');
  t.not(capEff(tun) & NET_ADMIN, 0n, 'CAP_NET_ADMIN');
});

test('noNewPrivileges=false turns NoNewPrivs off', async (t) => {
  const out = await runScript(t, STATUS, { noNewPrivileges: 'false' });
  t.equal(status(out, 'NoNewPrivs'), '0');
  t.equal(status(out, 'Seccomp'), '2', 'seccomp stays on');
});

test('a custom profile from the config allow-list applies', async (t) => {
  const mk = probe('mkdir', 'mkdir /tmp/d');
  t.equal(result(await runScript(t, mk), 'mkdir'), 'ok', 'mkdir works under the default profile');
  t.equal(result(await runScript(t, mk, { seccompProfile: 'no-mkdir' }), 'mkdir'), 'fail', 'mkdir is refused under no-mkdir');
});

test('malformed values, unknown profiles and AppArmor on this host are INVALID_ARGUMENT naming the attribute', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ seccompProfile: 'nope' }, /passthroughAttributes\.titusParameter\.agent\.seccompProfile: "nope" is not a seccomp profile this host offers \(default, fuse, imageBuilding, no-mkdir\)/],
    [{ fuseEnabled: 'yes please' }, /passthroughAttributes\.titusParameter\.agent\.fuseEnabled: "yes please" is not a boolean/],
    [{ kvmEnabled: '2' }, /passthroughAttributes\.titusParameter\.agent\.kvmEnabled: "2" is not a boolean/],
    [{ fuseEnabled: 'true', imageBuildingEnabled: 'true' }, /titusParameter\.agent\.imageBuildingEnabled: cannot be combined with titusParameter\.agent\.fuseEnabled/],
    // This machine has no AppArmor; where it has, the profile is refused for not being in the (empty) allow-list.
    existsSync('/sys/module/apparmor/parameters/enabled')
      ? [{ apparmorProfile: 'docker-default' }, /titusParameter\.agent\.apparmorProfile: "docker-default" is not an AppArmor profile this host allows/]
      : [{ apparmorProfile: 'docker-default' }, /passthroughAttributes\.titusParameter\.agent\.apparmorProfile: this host has no AppArmor/],
  ];
  for (const [attributes, message] of cases) {
    const taskId = uniqueTaskId('bad');
    const containerInfo: ContainerInfo = {
      fullyQualifiedImage: suite.h.images.busyboxRepo,
      passthroughAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`${ATTR}${k}`, v])),
    };
    await t.rejects(suite.ex.launch({ taskId, containerInfo }), { code: grpc.status.INVALID_ARGUMENT, details: message }, JSON.stringify(attributes));
    await t.rejects(suite.ex.get(taskId), { code: grpc.status.NOT_FOUND }, 'no task was recorded');
  }
});
