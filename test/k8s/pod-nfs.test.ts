/**
 * Kubernetes `nfs` volumes through the interLink plugin API on a real
 * dockerd: the executor mounts the export (as it does ContainerInfo's
 * efsConfigInfo) before each container that mounts it starts, read-only when
 * the volume or the volumeMount says so, and unmounts it when the container
 * ends. Volume kinds the plugin does not provide are refused with 400,
 * naming the volume and its kind.
 *
 * This machine's kernel has no NFS client, so the NFS mount is played by
 * test/fixtures/nfs/fake-mount-nfs as volumes.mountCommand: it stands for
 * mount(8) + mount.nfs4 + the kernel's NFS client, and its
 * <export-root>/<server><path> directory stands for the server's export,
 * bind-mounted where the NFS export would be mounted. It records its
 * arguments. Real: dockerd, the executor's mount/unmount calls, the bind
 * mounts and the read-only remount, umount, the interLink HTTP API.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mountsUnder, unmountUnder } from '../harness/mounts.js';
import { allTerminated, byName, createBody, podSuite, type SimplePod } from './pod-suite.js';

const FAKE_MOUNT = fileURLToPath(new URL('../fixtures/nfs/fake-mount-nfs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'titus-podnfs-'));
t.teardown(() => {
  unmountUnder(dir); // a failed run may leave mounts: never remove through them
  rmSync(dir, { recursive: true, force: true });
});
const exportRoot = join(dir, 'exports');
const mountDir = join(dir, 'mounts');
const argsLog = join(dir, 'mount-args.log');
writeFileSync(argsLog, '');

const suite = podSuite(t, {}, { volumes: { mountCommand: [FAKE_MOUNT, exportRoot, argsLog], mountDir } });
const test = suite.test;

test('an nfs volume: the writer writes to the export, a readOnly mount cannot; unmounted when the pod ends', async (t) => {
  const exported = join(exportRoot, 'nfs.test', 'exports', 'pod', 'sub');
  mkdirSync(exported, { recursive: true });
  writeFileSync(join(exported, 'seed.txt'), 'seed\n');
  const image = suite.h.images.busybox;
  const pod: SimplePod = {
    metadata: { name: 'nfs-pod', namespace: 'default', uid: randomUUID() },
    spec: {
      containers: [
        { name: 'writer', image, command: ['sh', '-c', 'cat /data/seed.txt > /data/copy.txt'], volumeMounts: [{ name: 'home', mountPath: '/data' }] },
        {
          name: 'reader',
          image,
          command: ['sh', '-c', 'cat /data/seed.txt >/dev/null && if touch /data/reader.txt 2>/dev/null; then exit 9; fi'],
          volumeMounts: [{ name: 'home', mountPath: '/data', readOnly: true }],
        },
      ],
      volumes: [{ name: 'home', nfs: { server: 'nfs.test', path: '/exports/pod' } }],
      restartPolicy: 'Never',
    },
  };
  // A subPath is a directory under the export.
  for (const c of pod.spec.containers) Object.assign(c.volumeMounts?.[0] ?? {}, { subPath: 'sub' });
  t.equal((await suite.create(createBody(pod))).status, 200);
  const done = await suite.waitFor(pod, allTerminated, 'all terminated');
  t.same(
    done.containers.map((c) => [c.name, c.state.terminated?.exitCode]),
    [
      ['writer', 0],
      ['reader', 0],
    ],
    'the writer could write, the reader could read and not write',
  );
  t.equal(readFileSync(join(exported, 'copy.txt'), 'utf8'), 'seed\n', 'the writer\'s file is in the export');
  t.notOk(existsSync(join(exported, 'reader.txt')), 'nothing written through the read-only mount');
  const calls = readFileSync(argsLog, 'utf8').split('\n').filter((l) => l.includes(pod.metadata.uid)).map((l) => l.split('\t'));
  t.same(
    calls.map((c) => [c[3]?.split(',').at(-1), c[4]]).sort(),
    [
      ['ro', 'nfs.test:/exports/pod/sub'],
      ['rw', 'nfs.test:/exports/pod/sub'],
    ],
    'one NFSv4.1 mount per container, ro for the readOnly one',
  );
  t.ok(calls.every((c) => c[3]?.startsWith('nfsvers=4.1,')), 'with the EFS/Titus options');
  t.equal(byName(done.containers, 'writer').state.terminated?.reason, 'Completed');
  t.equal((await suite.del(pod)).status, 200);
  t.same(mountsUnder(mountDir), [], 'nothing left mounted');
  t.same(existsSync(mountDir) ? readdirSync(mountDir) : [], [], 'no task directory left');
});

test('volume kinds the plugin does not provide are refused with 400 naming the volume and the kind', async (t) => {
  const image = suite.h.images.busybox;
  const pod = (volumes: Array<Record<string, unknown>>, mounts: Array<{ name: string; mountPath: string }>): SimplePod => ({
    metadata: { name: 'refused', namespace: 'default', uid: randomUUID() },
    spec: { containers: [{ name: 'main', image, command: ['true'], volumeMounts: mounts }], volumes, restartPolicy: 'Never' },
  });
  const hostPath = await suite.create(
    createBody(pod([{ name: 'unused', emptyDir: {} }, { name: 'host', hostPath: { path: '/etc' } }], [{ name: 'host', mountPath: '/h' }])),
  );
  t.equal(hostPath.status, 400);
  t.match(hostPath.text, /pod\.spec\.volumes\.1: volume host: only emptyDir, configMap, secret, projected, downwardAPI and nfs volumes are supported; hostPath is not/, 'the index is the volume\'s own in pod.spec.volumes');
  const pvc = await suite.create(createBody(pod([{ name: 'claim', persistentVolumeClaim: { claimName: 'x' } }], [{ name: 'claim', mountPath: '/c' }])));
  t.equal(pvc.status, 400);
  t.match(pvc.text, /pod\.spec\.volumes\.0: volume claim: .*persistentVolumeClaim is not/);
  const badServer = await suite.create(createBody(pod([{ name: 'n', nfs: { server: 'a,b', path: '/x' } }], [{ name: 'n', mountPath: '/n' }])));
  t.equal(badServer.status, 400);
  t.match(badServer.text, /pod\.spec\.volumes\.0\.nfs\.server: must be an EFS file system id .*or an NFS server host name/);
  const overProc = await suite.create(createBody(pod([{ name: 'n', nfs: { server: 'nfs.test', path: '/x' } }], [{ name: 'n', mountPath: '/proc/n' }])));
  t.equal(overProc.status, 400);
  t.match(overProc.text, /pod\.spec\.containers\.0\.volumeMounts\.0\.mountPath: must not be \/proc or under it/);
  const relative = await suite.create(createBody(pod([{ name: 'n', nfs: { server: 'nfs.test', path: 'x' } }], [{ name: 'n', mountPath: '/n' }])));
  t.equal(relative.status, 400);
  t.match(relative.text, /pod\.spec\.volumes\.0\.nfs\.path: must be an absolute path/);
  t.same(readFileSync(argsLog, 'utf8').split('\n').filter((l) => l.includes('refused')), [], 'nothing was mounted');
});
