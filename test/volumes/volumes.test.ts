/**
 * EFS / NFS volumes (ContainerInfo.efsConfigInfo) through a real executor on
 * a harness engine: mounted before the task starts, seen at the mount point
 * inside the container, read-only when asked, unmounted when the task ends
 * however it ends (exit, kill, a failure after the mounts), refused with
 * INVALID_ARGUMENT when invalid.
 *
 * This machine's kernel has no NFS client (no nfs/nfs4 in /proc/filesystems)
 * and no nfsd, so no real NFS server or mount can run here. Real parts: the
 * engine; the executor's mount and unmount calls; the kernel's bind mounts
 * and read-only remount; `umount`; in the last test the real `mount` (mount(8)
 * and mount.nfs4 from nfs-common) against a local export, which the kernel
 * refuses. Fake: test/fixtures/nfs/fake-mount-nfs is the executor's
 * volumes.mountCommand in the other tests. It stands for mount(8) +
 * mount.nfs4 + the kernel's NFS client, and its <export-root>/<server><path>
 * directory stands for the NFS server's export (a bind mount of it plays the
 * NFS mount). It records the arguments it was given, which the tests check.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useHarness, type Harness } from '../harness/index.js';
import { mountsUnder, unmountUnder } from '../harness/mounts.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { settledCensus } from '../helpers/census.js';

const FAKE_MOUNT = fileURLToPath(new URL('../fixtures/nfs/fake-mount-nfs', import.meta.url));
const NFS_OPTIONS = 'nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport';

let h: Harness;
let dir: string;
let exportRoot: string;
let argsLog: string;
let mountDir: string;
let ex: TestExecutor;

t.before(async () => {
  h = await useHarness(t);
  dir = mkdtempSync(join(tmpdir(), 'titus-volumes-'));
  exportRoot = join(dir, 'exports');
  argsLog = join(dir, 'mount-args.log');
  mountDir = join(dir, 'mounts');
  writeFileSync(argsLog, '');
  ex = await startTestExecutor(t, h, {
    volumes: { mountCommand: [FAKE_MOUNT, exportRoot, argsLog], mountDir, efsRegion: 'us-test-1', efsDomain: 'example.test' },
  });
});
t.teardown(() => {
  unmountUnder(dir); // a failed run may leave mounts: never remove through them
  rmSync(dir, { recursive: true, force: true });
});

/** A directory standing for `<server>:<path>` on the NFS server. */
const exportDir = (server: string, path: string): string => {
  const d = join(exportRoot, server, path);
  mkdirSync(d, { recursive: true });
  return d;
};

/** The fake's recorded calls for one task (its mount directories are named after the task). */
const mountCalls = (taskId: string): string[][] =>
  readFileSync(argsLog, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/${taskId}/`))
    .map((l) => l.split('\t'));

const eventuallyTrue = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!check()) throw new Error(`timed out waiting until ${what}`);
};

const nothingLeftOf = (taskId: string) => ({ mounts: mountsUnder(join(mountDir, taskId)), dir: existsSync(join(mountDir, taskId)) });

const run = (taskId: string, command: string[], efsConfigInfo: unknown[]) =>
  ex.run({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command }, efsConfigInfo: efsConfigInfo as never } });

t.test('read-write: files the task writes land in the export; EFS ids become the EFS DNS name; unmounted at exit', async (t) => {
  const taskId = uniqueTaskId('rw');
  const efs = exportDir('fs-0a1b.efs.us-test-1.example.test', '/');
  const nfs = exportDir('nfs.test', '/exports/app');
  writeFileSync(join(nfs, 'in.txt'), 'from the server\n');
  const updates = await run(taskId, ['sh', '-c', 'cat /shared/in.txt > /efs/out.txt && echo written >> /shared/log.txt'], [
    { efsFsId: 'fs-0a1b', mountPoint: '/efs' },
    { efsFsId: 'nfs.test', mountPoint: '/shared', mntPerms: 'WO', efsFsRelativeMntPoint: 'exports/app' },
  ]);
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', updates.at(-1)?.message ?? '');
  t.equal(readFileSync(join(efs, 'out.txt'), 'utf8'), 'from the server\n', 'the task read one volume and wrote the other');
  t.equal(readFileSync(join(nfs, 'log.txt'), 'utf8'), 'written\n', 'WO mounts read-write, as under Titus');
  t.same(mountCalls(taskId), [
    ['-t', 'nfs4', '-o', `${NFS_OPTIONS},rw`, 'fs-0a1b.efs.us-test-1.example.test:/', join(mountDir, taskId, '0')],
    ['-t', 'nfs4', '-o', `${NFS_OPTIONS},rw`, 'nfs.test:/exports/app', join(mountDir, taskId, '1')],
  ]);
  t.same(nothingLeftOf(taskId), { mounts: [], dir: false }, 'unmounted and the task directory removed');
});

t.test('read-only: mounted ro, the task cannot write there, the export is untouched', async (t) => {
  const taskId = uniqueTaskId('ro');
  const ro = exportDir('nfs.test', '/ro');
  writeFileSync(join(ro, 'hello'), 'hi\n');
  const script = 'cat /data/hello && if touch /data/new 2>/dev/null; then echo WROTE; exit 9; fi; grep " /data " /proc/mounts';
  const updates = await run(taskId, ['sh', '-c', script], [{ efsFsId: 'nfs.test', mountPoint: '/data', mntPerms: 'RO', efsFsRelativeMntPoint: '/ro' }]);
  const task = await ex.get(taskId);
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', `${updates.at(-1)?.message ?? ''} ${task.outputTail ?? ''}`);
  t.match(task.outputTail ?? '', /hi\n.* \/data \S+ ro[,\s]/s, 'read works, /data is a read-only mount inside the container');
  t.notOk(existsSync(join(ro, 'new')), 'nothing was written to the export');
  t.equal(mountCalls(taskId)[0]?.[3], `${NFS_OPTIONS},ro`, 'mounted with ro');
  t.same(nothingLeftOf(taskId), { mounts: [], dir: false });
});

t.test('kill: the volume is mounted while the task runs and unmounted once it is killed', async (t) => {
  const taskId = uniqueTaskId('kill');
  exportDir('nfs.test', '/k');
  await ex.launch({
    taskId,
    containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '300'] }, efsConfigInfo: [{ efsFsId: 'nfs.test', mountPoint: '/k', efsFsRelativeMntPoint: '/k' }] },
  });
  await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  t.same(mountsUnder(join(mountDir, taskId)), [join(mountDir, taskId, '0')], 'mounted while it runs');
  await ex.kill(taskId, 1);
  const updates = await ex.waitForState(taskId, 'terminal');
  t.equal(updates.at(-1)?.state, 'TASK_STATE_KILLED');
  t.same(nothingLeftOf(taskId), { mounts: [], dir: false }, 'unmounted after the kill');
});

t.test('a launch that fails after its volumes were mounted unmounts them', async (t) => {
  const taskId = uniqueTaskId('badexec');
  exportDir('nfs.test', '/b');
  const updates = await ex.run({
    taskId,
    containerInfo: {
      fullyQualifiedImage: h.images.busyboxRepo,
      process: { entrypoint: ['/no/such/program'] },
      efsConfigInfo: [{ efsFsId: 'nfs.test', mountPoint: '/b', efsFsRelativeMntPoint: '/b' }],
    },
  });
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FAILED', updates.at(-1)?.message ?? '');
  t.equal(mountCalls(taskId).length, 1, 'the volume had been mounted');
  t.same(nothingLeftOf(taskId), { mounts: [], dir: false });
});

t.test('a volume the server refuses fails the task with its reason; the one mounted before it is unmounted', async (t) => {
  const taskId = uniqueTaskId('refused');
  exportDir('nfs.test', '/first');
  const updates = await run(taskId, ['true'], [
    { efsFsId: 'nfs.test', mountPoint: '/first', efsFsRelativeMntPoint: '/first' },
    { efsFsId: 'nfs.test', mountPoint: '/second', efsFsRelativeMntPoint: '/not-exported' },
  ]);
  const last = updates.at(-1);
  t.equal(last?.state, 'TASK_STATE_FAILED');
  t.match(last?.message ?? '', /Failed to mount a volume before starting the container: cannot mount NFS volume nfs\.test:\/not-exported \(read-write\): .*exited with code 32: mount\.nfs4: mounting nfs\.test:\/not-exported failed, reason given by server: No such file or directory/);
  t.notOk(updates.some((u) => u.state === 'TASK_STATE_RUNNING'), 'never ran');
  t.equal(mountCalls(taskId).length, 2);
  t.same(nothingLeftOf(taskId), { mounts: [], dir: false });
  t.same(await h.docker(['ps', '-a', '-q', '--filter', `name=${taskId}`]).then((r) => r.stdout.trim()), '', 'no container was made');
});

t.test('a mount that hangs: a kill cancels it, and a mount past volumes.mountTimeoutMs fails the task; nothing left', async (t) => {
  const hanging = [{ efsFsId: 'hang.test', mountPoint: '/h' }];
  const killed = uniqueTaskId('hangkill');
  await ex.launch({ taskId: killed, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] }, efsConfigInfo: hanging as never } });
  await eventuallyTrue(() => mountCalls(killed).length === 1, 'the mount was called');
  const started = Date.now();
  await ex.kill(killed, 1);
  const updates = await ex.waitForState(killed, 'terminal');
  t.equal(updates.at(-1)?.state, 'TASK_STATE_KILLED');
  t.ok(Date.now() - started < 20_000, 'the kill did not wait for the mount');
  t.same(nothingLeftOf(killed), { mounts: [], dir: false });

  const quick = await startTestExecutor(t, h, { volumes: { mountCommand: [FAKE_MOUNT, exportRoot, argsLog], mountDir, mountTimeoutMs: 1500 } });
  const timedOut = uniqueTaskId('hangtimeout');
  const ended = await quick.run({ taskId: timedOut, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] }, efsConfigInfo: hanging as never } });
  t.equal(ended.at(-1)?.state, 'TASK_STATE_FAILED');
  t.match(ended.at(-1)?.message ?? '', /cannot mount NFS volume hang\.test:\/ \(read-write\): no answer within 1500 ms \(volumes\.mountTimeoutMs\)/);
  t.same(nothingLeftOf(timedOut), { mounts: [], dir: false });
});

t.test('invalid efsConfigInfo is refused with INVALID_ARGUMENT naming the field; nothing is mounted', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ efsFsId: 'nfs.test', mountPoint: '/d', mntPerms: 5 }, /containerInfo\.efsConfigInfo\.0\.mntPerms: must be RW \(1\), RO \(2\) or WO \(3\)/],
    [{ efsFsId: 'nfs.test', mountPoint: 'relative' }, /containerInfo\.efsConfigInfo\.0\.mountPoint: must be an absolute path/],
    [{ efsFsId: 'nfs.test', mountPoint: '' }, /containerInfo\.efsConfigInfo\.0\.mountPoint: is required/],
    [{ efsFsId: 'nfs.test', mountPoint: '/proc/x' }, /containerInfo\.efsConfigInfo\.0\.mountPoint: must not be \/proc or under it/],
    [{ efsFsId: 'nfs.test', mountPoint: '/etc/hosts' }, /containerInfo\.efsConfigInfo\.0\.mountPoint: must not be \/etc\/hosts/],
  ];
  for (const [entry, message] of cases) {
    const taskId = uniqueTaskId('invalid');
    await t.rejects(ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, efsConfigInfo: [entry] as never } }), { code: 3, details: message });
    t.same(mountCalls(taskId), []);
  }
  const dup = uniqueTaskId('dup');
  await t.rejects(
    ex.launch({
      taskId: dup,
      containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, efsConfigInfo: [{ efsFsId: 'fs-1', mountPoint: '/d' }, { efsFsId: 'nfs.test', mountPoint: '/d/' }] },
    }),
    { code: 3, details: /containerInfo\.efsConfigInfo\.1\.mountPoint: \/d is already the mount point of entry 0/ },
  );
  t.same(await settledCensus({ h, executorId: ex.config.executorId, client: ex.client, volumeMountDir: mountDir }), [], 'nothing left');
});

/** This kernel knows no NFS filesystem (no module can be loaded either: none are installed). */
t.test('an EFS id on a host that knows no EFS region is refused at launch (FAILED_PRECONDITION naming the field)', async (t) => {
  const noRegion = await startTestExecutor(t, h, { volumes: { mountCommand: [FAKE_MOUNT, exportRoot, argsLog], mountDir, efsRegion: '' } });
  const taskId = uniqueTaskId('noregion');
  await t.rejects(
    noRegion.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, efsConfigInfo: [{ efsFsId: 'fs-0a1b', mountPoint: '/efs' }] } }),
    { code: 9, details: /containerInfo\.efsConfigInfo\.0\.efsFsId: EFS file system ids need volumes\.efsRegion/ },
  );
  t.same(mountCalls(taskId), []);
  const byName = uniqueTaskId('byname');
  exportDir('nfs.test', '/n');
  const updates = await noRegion.run({
    taskId: byName,
    containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] }, efsConfigInfo: [{ efsFsId: 'nfs.test', mountPoint: '/n', efsFsRelativeMntPoint: '/n' }] },
  });
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', 'an NFS server by name needs no region');
});

const nfsMissingHere = !/\tnfs4?\n/.test(readFileSync('/proc/filesystems', 'utf8'));
const nfsClientMissing = (): string | false => {
  return existsSync('/usr/sbin/mount.nfs4') || existsSync('/sbin/mount.nfs4') ? false : 'needs mount.nfs4 (nfs-common; scripts/setup.sh installs it)';
};

t.test('the real mount command against a local export: the refusal is a clear task failure, nothing leaked', { skip: nfsClientMissing() }, async (t) => {
  const realDir = join(dir, 'real-mounts');
  const real = await startTestExecutor(t, h, {
    // retry=0: one attempt, so a kernel that has an NFS client (CI) answers at once that nothing serves 127.0.0.1.
    volumes: { mountDir: realDir, mountTimeoutMs: 30_000, nfsOptions: [...NFS_OPTIONS.split(','), 'retry=0'] },
  });
  const exported = exportDir('local', '/real');
  const taskId = uniqueTaskId('real');
  const updates = await real.run({
    taskId,
    containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] }, efsConfigInfo: [{ efsFsId: '127.0.0.1', mountPoint: '/data', efsFsRelativeMntPoint: exported }] },
  });
  const last = updates.at(-1);
  t.equal(last?.state, 'TASK_STATE_FAILED');
  // Here: "mount.nfs4: No such device" (no NFS in this kernel), with a hint; on a kernel with NFS and no server: "Connection refused".
  t.match(last?.message ?? '', new RegExp(`Failed to mount a volume before starting the container: cannot mount NFS volume 127\\.0\\.0\\.1:${exported} \\(read-write\\): mount exited with code \\d+: mount\\.nfs4?: \\S`));
  if (nfsMissingHere) t.match(last?.message ?? '', /No such device \(this host's kernel has no NFS client/, 'the kernel refusal, explained');
  t.notOk(updates.some((u) => u.state === 'TASK_STATE_RUNNING'), 'never ran');
  t.same(await settledCensus({ h, executorId: real.config.executorId, client: real.client, volumeMountDir: realDir }), [], 'no mount, no directory, no container left');
});
