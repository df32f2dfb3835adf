/**
 * ContainerInfo.efsConfigInfo as the executor reads it (issue 16 item 2):
 * what is refused with INVALID_ARGUMENT naming the field, how mntPerms and
 * the relative path are read (Titus: absent = RW, WO mounts read-write, empty
 * path = /), through the real ContainerInfo decoder for the enum, and the exact
 * mount command line a volume becomes.
 */
import t from 'tap';
import protobuf from 'protobufjs';
import { loadExecutorProto } from '../../src/api/proto.js';
import { parseLaunchRequest } from '../../src/api/validate.js';
import type { LaunchTaskRequest__Output } from '../../src/proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { parseConfig } from '../../src/config/config.js';
import { efsMountsOf } from '../../src/task/efs-config.js';
import { checkContainerInfo } from '../../src/task/launch-request.js';
import { containerInfoSchema } from '../../src/task/container-info.js';
import { efsServerName, nfsMountArgv } from '../../src/volumes/nfs-mounter.js';

const proto = loadExecutorProto();
const defaults = parseConfig({}).defaultResources;
const refused = (efsConfigInfo: unknown[]): string => {
  try {
    checkContainerInfo({ imageName: 'x', efsConfigInfo });
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

t.test('invalid efsConfigInfo entries are refused, naming the field', async (t) => {
  const ok = { efsFsId: 'fs-12ab', mountPoint: '/data' };
  t.equal(refused([ok]), 'accepted');
  t.match(refused([{ ...ok, mntPerms: 7 }]), /^containerInfo\.efsConfigInfo\.0\.mntPerms: must be RW \(1\), RO \(2\) or WO \(3\), not 7/);
  t.match(refused([{ ...ok, mntPerms: 'XX' }]), /^containerInfo\.efsConfigInfo\.0\.mntPerms/);
  t.match(refused([{ ...ok, mountPoint: 'data' }]), /^containerInfo\.efsConfigInfo\.0\.mountPoint: must be an absolute path/);
  t.match(refused([{ ...ok, mountPoint: '' }]), /^containerInfo\.efsConfigInfo\.0\.mountPoint: is required/);
  t.match(refused([{ efsFsId: 'fs-1' }]), /^containerInfo\.efsConfigInfo\.0\.mountPoint: is required/);
  t.match(refused([{ mountPoint: '/d' }]), /^containerInfo\.efsConfigInfo\.0\.efsFsId: is required/);
  t.match(refused([{ ...ok, mountPoint: '/proc' }]), /mountPoint: must not be \/proc or under it/);
  t.match(refused([{ ...ok, mountPoint: '/sys/fs/x' }]), /mountPoint: must not be \/sys or under it/);
  t.match(refused([{ ...ok, mountPoint: '/dev/shm' }]), /mountPoint: must not be \/dev or under it/);
  t.match(refused([{ ...ok, mountPoint: '/etc/hosts' }]), /mountPoint: must not be \/etc\/hosts: it would hide \/etc\/hosts/);
  t.match(refused([{ ...ok, mountPoint: '/etc/' }]), /mountPoint: must not be \/etc: it would hide \/etc\/hosts/);
  t.match(refused([{ ...ok, mountPoint: '/' }]), /mountPoint: must not be \//);
  t.match(refused([{ ...ok, mountPoint: '/data/../proc' }]), /mountPoint: must not contain "\." or "\.\." components/);
  t.match(refused([ok, { efsFsId: 'nfs.example', mountPoint: '/data/' }]), /^containerInfo\.efsConfigInfo\.1\.mountPoint: \/data is already the mount point of entry 0/);
  t.match(refused([{ ...ok, efsFsId: 'host:/x' }]), /^containerInfo\.efsConfigInfo\.0\.efsFsId: must be an EFS file system id/);
  t.match(refused([{ ...ok, efsFsId: 'a,b' }]), /efsFsId/);
  t.match(refused([{ ...ok, efsFsRelativeMntPoint: '/a/../../b' }]), /^containerInfo\.efsConfigInfo\.0\.efsFsRelativeMntPoint: must not contain "\.\."/);
  t.match(refused([{ ...ok, efsFsRelativeMntPoint: '/a,b' }]), /efsFsRelativeMntPoint: must not contain NUL, newline or comma/);
  t.equal(refused([ok, { efsFsId: '10.0.0.5', mountPoint: '/data/sub' }]), 'accepted', 'a mount point under another one is fine');
});

t.test('mntPerms: absent and RW and WO mount read-write, RO read-only; empty path is /', async (t) => {
  const info = containerInfoSchema.parse({
    efsConfigInfo: [
      { efsFsId: 'fs-1', mountPoint: '/a' },
      { efsFsId: 'fs-1', mountPoint: '/b', mntPerms: 'RW', efsFsRelativeMntPoint: '' },
      { efsFsId: 'fs-1', mountPoint: '/c', mntPerms: 'RO', efsFsRelativeMntPoint: 'sub/dir' },
      { efsFsId: 'nfs.example', mountPoint: '/d//e/', mntPerms: 'WO', efsFsRelativeMntPoint: '/x/' },
      { efsFsId: 'fs-1', mountPoint: '/f', mntPerms: 2 },
    ],
  });
  t.same(
    efsMountsOf(info).map((m) => [m.fsId, m.exportPath, m.mountPoint, m.readOnly]),
    [
      ['fs-1', '/', '/a', false],
      ['fs-1', '/', '/b', false],
      ['fs-1', '/sub/dir', '/c', true],
      ['nfs.example', '/x/', '/d/e', false],
      ['fs-1', '/', '/f', true],
    ],
  );
});

t.test('through the real decoder: a MountPerms number the proto does not name is refused; RO by name works', async (t) => {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('org/app');
  const efs = protobuf.Writer.create();
  efs.uint32((1 << 3) | 2).string('fs-abc');
  efs.uint32((2 << 3) | 2).string('/data');
  efs.uint32((3 << 3) | 0).int32(9);
  w.uint32((21 << 3) | 2).bytes(efs.finish());
  const req = { taskId: 'a', container: 'containerInfoBytes', containerInfoBytes: Buffer.from(w.finish()) } as unknown as LaunchTaskRequest__Output;
  t.throws(() => parseLaunchRequest(req, defaults, proto.decodeContainerInfo), { code: 'INVALID_ARGUMENT', message: /efsConfigInfo\.0\.mntPerms/ });
  const good = proto.encodeContainerInfo({ imageName: 'org/app', efsConfigInfo: [{ efsFsId: 'fs-abc', mountPoint: '/data', mntPerms: 'RO' }] });
  const spec = parseLaunchRequest({ taskId: 'a', container: 'containerInfoBytes', containerInfoBytes: Buffer.from(good) } as unknown as LaunchTaskRequest__Output, defaults, proto.decodeContainerInfo);
  t.same(efsMountsOf(spec.containerInfo).map((m) => m.readOnly), [true]);
});

t.test('the mount command line: Titus/AWS EFS options, ro or rw, the EFS DNS name', async (t) => {
  const cfg = parseConfig({ volumes: { efsRegion: 'us-east-1' } }).volumes;
  t.equal(efsServerName('fs-12ab', cfg), 'fs-12ab.efs.us-east-1.amazonaws.com');
  t.same(nfsMountArgv({ server: efsServerName('fs-12ab', cfg), exportPath: '/', readOnly: false }, '/run/v/t1/0', cfg), [
    'mount', '-t', 'nfs4', '-o', 'nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,rw',
    'fs-12ab.efs.us-east-1.amazonaws.com:/', '/run/v/t1/0',
  ]);
  t.same(nfsMountArgv({ server: '10.1.2.3', exportPath: '/home', readOnly: true }, '/d', cfg).slice(4), [
    'nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,ro', '10.1.2.3:/home', '/d',
  ]);
  t.throws(() => parseConfig({ volumes: { nfsOptions: ['a,b'] } }), /volumes\.nfsOptions/);
});
