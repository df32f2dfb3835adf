/**
 * Disk quota detection (src/runtime/disk-quota.ts): what the engine's Info and
 * the data root's mount say before any container, the engine's refusal words,
 * and the tracker's cache (the engine's own answer wins; forgotten when the
 * engine goes away). The real engines are in test/runtime/disk-quota-*.test.ts.
 */
import t from 'tap';
import { DiskQuotaTracker, classifyStorage, isStorageSizeUnsupported, mountHolding, type EngineStorageInfo } from '../../src/runtime/disk-quota.js';
import { diskQuotaNote } from '../../src/task/disk-quota-note.js';
import { buildContainerSpec } from '../../src/task/build-container-spec.js';
import { parseConfig } from '../../src/config/config.js';
import { imageRefFor } from '../../src/runtime/image-ref.js';
import { formatHost } from '../../src/cli/host.js';
import type { HostResources__Output } from '../../src/proto/generated/titus/executor/v1/HostResources.js';

/** mountinfo lines as the kernel writes them (id parent maj:min root point options [optional] - type source super-options). */
const MOUNTINFO = [
  '22 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '40 22 7:0 / /var/lib/docker rw,relatime shared:5 - xfs /dev/loop0 rw,attr2,inode64,logbufs=8,logbsize=32k,prjquota',
  '41 22 7:1 / /srv/plain\\040xfs rw,relatime - xfs /dev/loop1 rw,attr2,inode64,noquota',
].join('\n');

const overlay = (backing: string, root: string): EngineStorageInfo => ({
  Driver: 'overlay2',
  DriverStatus: [
    ['Backing Filesystem', backing],
    ['Supports d_type', 'true'],
  ],
  DockerRootDir: root,
});

t.test('the mount holding a path: the longest mount point, octal escapes undone, options of both kinds', async (t) => {
  t.match(mountHolding(MOUNTINFO, '/var/lib/docker/overlay2/x'), { mountPoint: '/var/lib/docker', fsType: 'xfs' });
  t.ok(mountHolding(MOUNTINFO, '/var/lib/docker')?.options.includes('prjquota'), 'superblock options count');
  t.match(mountHolding(MOUNTINFO, '/var/lib/dockerish'), { mountPoint: '/', fsType: 'ext4' }, 'a prefix that is not a parent directory is not it');
  t.match(mountHolding(MOUNTINFO, '/srv/plain xfs/data'), { mountPoint: '/srv/plain xfs', fsType: 'xfs' });
});

t.test('start-time answer per storage driver and filesystem', async (t) => {
  const rows: Array<[string, EngineStorageInfo, string, RegExp]> = [
    ['overlay2 on extfs', overlay('extfs', '/var/lib/docker'), 'accounted', /overlay2 on extfs: .*only on xfs mounted with pquota/],
    ['overlay2 on xfs with prjquota', overlay('xfs', '/var/lib/docker'), 'enforced', /xfs with project quota \(\/var\/lib\/docker\)/],
    ['overlay2 on xfs without pquota', overlay('xfs', '/srv/plain xfs/docker'), 'accounted', /xfs at \/srv\/plain xfs is mounted without pquota/],
    ['overlay2 on xfs, data root not on this host', overlay('xfs', ''), 'unknown', /first container create tells/],
    ['vfs on ext4 (no backing fs in Info: the mount says)', { Driver: 'vfs', DriverStatus: [], DockerRootDir: '/srv/docker' }, 'accounted', /is on ext4/],
    ['btrfs', { Driver: 'btrfs', DriverStatus: [['Build Version', 'Btrfs v6.2']], DockerRootDir: '/var/lib/docker' }, 'enforced', /qgroup/],
    ['zfs', { Driver: 'zfs', DriverStatus: null, DockerRootDir: '/var/lib/docker' }, 'enforced', /quota/],
    ['fuse-overlayfs', { Driver: 'fuse-overlayfs', DriverStatus: [], DockerRootDir: '/x' }, 'unknown', /fuse-overlayfs/],
  ];
  for (const [name, info, mode, reason] of rows) {
    const q = classifyStorage(info, MOUNTINFO);
    t.equal(q.mode, mode, `${name}: ${mode}`);
    t.match(q.reason, reason, `${name}: reason`);
    t.equal(q.confirmed, false, `${name}: not confirmed before a create`);
  }
  t.equal(classifyStorage(overlay('xfs', '/var/lib/docker'), MOUNTINFO).backingFilesystem, 'xfs');
  t.equal(classifyStorage(overlay('xfs', '/var/lib/docker'), undefined).mode, 'unknown', 'no mountinfo: unknown');
});

t.test("the engine's words for a size it cannot enforce, and only those", async (t) => {
  t.ok(isStorageSizeUnsupported("--storage-opt is supported only for overlay over xfs with 'pquota' mount option"));
  t.ok(isStorageSizeUnsupported('Storage Option overlay2.size only supported for backingFS XFS. Found extfs'));
  t.ok(isStorageSizeUnsupported('Storage opt is not supported'));
  t.notOk(isStorageSizeUnsupported('btrfs: storage size cannot be less than 256 MiB'), "a size below a driver's minimum is the task's error");
  t.notOk(isStorageSizeUnsupported('No such image: busybox'));
});

t.test("the tracker: Info first, then the engine's answer to a create wins until the engine goes away", async (t) => {
  let infos = 0;
  const tracker = new DiskQuotaTracker(async () => {
    infos++;
    return { Driver: 'btrfs', DriverStatus: [], DockerRootDir: '/var/lib/docker' };
  });
  t.equal((await tracker.current()).mode, 'enforced');
  await tracker.current();
  t.equal(infos, 1, 'Info is read once');
  t.ok(tracker.shouldLimit());
  await tracker.refused('--storage-opt is supported only for overlay over xfs');
  t.match(await tracker.current(), { mode: 'accounted', confirmed: true, storageDriver: 'btrfs', reason: /the engine refused a size limit: --storage-opt/ });
  t.notOk(tracker.shouldLimit(), 'no size is asked for once refused');
  tracker.forget();
  t.match(await tracker.current(), { mode: 'enforced', confirmed: false }, 'detected afresh after the engine went away');
  t.equal(infos, 2);
  await tracker.accepted();
  t.match(await tracker.current(), { mode: 'enforced', confirmed: true, reason: /qgroup/ });
  const failing = new DiskQuotaTracker(async () => {
    throw new Error('engine down');
  });
  await t.rejects(failing.current(), /engine down/);
  await t.rejects(failing.current(), /engine down/, 'an unreachable engine is asked again, not cached');
});

t.test("the task's status note", async (t) => {
  const q = { storageDriver: 'overlay2', backingFilesystem: 'extfs', confirmed: true, reason: 'why' };
  t.equal(diskQuotaNote(20, { ...q, mode: 'enforced' }), 'disk 20 MiB: enforced (why)');
  t.equal(diskQuotaNote(20, { ...q, mode: 'accounted' }), 'disk 20 MiB: accounted only, not enforced (why)');
  t.equal(diskQuotaNote(20, { ...q, mode: 'unknown' }), 'disk 20 MiB: accounted; enforcement unknown (why)');
  t.equal(diskQuotaNote(0, { ...q, mode: 'enforced' }), undefined, 'no disk size, no note');
});

t.test('the container spec asks for the task disk size in bytes, and for none without one', async (t) => {
  const config = parseConfig({ executorId: 'x', stateDir: '/tmp/x' });
  const spec = (diskMb: number) =>
    buildContainerSpec({
      launch: { taskId: 't1', containerInfo: {}, resources: { cpu: 1, memoryMb: 64, diskMb, networkMbps: 0, gpus: 0 }, labels: {} },
      image: imageRefFor({ fullyQualifiedImage: 'busybox' }, ''),
      imageConfig: { id: 'sha256:x', entrypoint: [], cmd: ['sh'], sizeBytes: 1 },
      env: {},
      config,
      executorPid: 1,
    });
  t.equal(spec(20).storageSizeBytes, 20 * 1024 * 1024);
  t.equal(spec(0).storageSizeBytes, undefined);
});

t.test('titus-executor host prints the disk quota line', async (t) => {
  const host = {
    hostname: 'h',
    engineVersion: '20.10',
    runningTasks: 0,
    gpus: [],
    status: [],
    disks: [],
    nics: [],
    diskQuota: { mode: 'accounted', reason: 'storage driver overlay2 on extfs', storageDriver: 'overlay2', backingFilesystem: 'extfs', confirmed: true },
  } as unknown as HostResources__Output;
  t.match(formatHost(host), /^disk quota: accounted \(confirmed by the engine\): storage driver overlay2 on extfs$/m);
  t.notMatch(formatHost({ ...host, diskQuota: undefined }), /disk quota/, 'an executor that does not say prints nothing');
});
