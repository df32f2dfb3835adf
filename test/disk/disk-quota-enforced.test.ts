/**
 * A task's disk size enforced by the engine: its engine's data root on a
 * filesystem of its own (test/harness/loop-fs.ts). xfs with pquota is what
 * production hosts use (overlay2); btrfs is the other driver that enforces a
 * size, and the one this CI kernel can run when it has no XFS quota support.
 * A filesystem the machine cannot give is skipped, saying why.
 */
import t from 'tap';
import { LoopFsUnsupported, startHarness, type DataRootFs, type Harness } from '../harness/index.js';
import { startTestExecutor } from '../helpers/executor.js';
import { DISK_MB, bigFileBytes, hostDiskQuota, runDiskTask } from './disk-task.js';

const enforcedOn = (fs: DataRootFs, driver: string): void => {
  t.test(`${fs}: a task that writes more than its disk size gets EDQUOT/ENOSPC, and its status says enforced`, async (t) => {
    let h: Harness;
    try {
      h = await startHarness({ dataRootFs: fs, images: 'busybox' });
    } catch (err) {
      if (!(err instanceof LoopFsUnsupported)) throw err;
      t.skip(`${fs} data root: ${err.message}`, () => undefined);
      return;
    }
    t.teardown(() => h.stop());
    const ex = await startTestExecutor(t, h);
    t.match(await hostDiskQuota(ex), { mode: 'enforced', storageDriver: driver, confirmed: false }, 'GetHostResources before any task: from the engine Info');

    const { end, output, diskNote } = await runDiskTask(h, ex);
    t.equal(end.state, 'TASK_STATE_FINISHED', output);
    t.match(output, /small-ok/, 'writing less than the disk size works');
    t.match(output, /Disk quota exceeded|No space left on device/, 'writing more fails from inside the container');
    t.match(output, /big-exit=1/);
    t.ok(bigFileBytes(output) <= DISK_MB * 1024 * 1024, `no more than ${DISK_MB} MiB was written (${bigFileBytes(output)} bytes)`);
    t.match(diskNote, new RegExp(`^disk ${DISK_MB} MiB: enforced \\(`), 'the task status says enforced');
    t.match(await hostDiskQuota(ex), { mode: 'enforced', storageDriver: driver, confirmed: true }, 'GetHostResources after: confirmed by the engine');
  });
};

enforcedOn('xfs-pquota', 'overlay2');
enforcedOn('btrfs', 'btrfs');
