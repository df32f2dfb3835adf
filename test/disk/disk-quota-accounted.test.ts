/**
 * A task's disk size only accounted: the engine's storage driver cannot hold
 * a container to a size (overlay2 on ext4, the usual harness engine; overlay2
 * on xfs mounted without pquota). The task runs and may write past its size;
 * its status and GetHostResources say the size is not enforced.
 */
import t from 'tap';
import { startHarness, useHarness } from '../harness/index.js';
import { startTestExecutor } from '../helpers/executor.js';
import { DISK_MB, backingFilesystem, bigFileBytes, hostDiskQuota, runDiskTask } from './disk-task.js';

t.test('overlay2 without xfs pquota: the task runs past its disk size; status and GetHostResources say accounted only', async (t) => {
  const h = await useHarness(t, { images: 'busybox' });
  const backing = await backingFilesystem(h);
  if (backing === 'xfs' || backing === '') {
    t.skip(`this harness engine's data root is on ${backing || 'a filesystem its driver does not name'}; the plain case needs ext4 or the like`, () => undefined);
    return;
  }
  const ex = await startTestExecutor(t, h);
  t.match(
    await hostDiskQuota(ex),
    { mode: 'accounted', storageDriver: 'overlay2', backingFilesystem: backing, confirmed: false, reason: `storage driver overlay2 on ${backing}` },
    'GetHostResources before any task: from the engine Info',
  );

  const { end, output, diskNote } = await runDiskTask(h, ex);
  t.equal(end.state, 'TASK_STATE_FINISHED', output);
  t.match(output, /big-exit=0/, 'the task writes past its disk size');
  t.equal(bigFileBytes(output), 64 * 1024 * 1024);
  t.match(diskNote, new RegExp(`^disk ${DISK_MB} MiB: accounted only, not enforced \\(the engine refused a size limit: --storage-opt is supported only for overlay over xfs`));
  t.match(await hostDiskQuota(ex), { mode: 'accounted', confirmed: true, reason: /the engine refused a size limit/ }, "GetHostResources after: the engine's own answer");

  const second = await runDiskTask(h, ex);
  t.equal(second.end.state, 'TASK_STATE_FINISHED', 'a second task: created at once without a size');
  t.match(second.diskNote, /accounted only, not enforced/);

  // The engine may come back on another data root or driver: the answer is detected afresh.
  await h.restartEngine();
  t.match(await hostDiskQuota(ex), { mode: 'accounted', confirmed: false }, 'after an engine restart: from Info again');
});

t.test('overlay2 on xfs mounted without pquota: seen from the mount at start, refused by the engine at create', async (t) => {
  const h = await startHarness({ dataRootFs: 'xfs', images: 'busybox' });
  t.teardown(() => h.stop());
  const ex = await startTestExecutor(t, h);
  t.match(
    await hostDiskQuota(ex),
    { mode: 'accounted', storageDriver: 'overlay2', backingFilesystem: 'xfs', confirmed: false, reason: /xfs at \S+\/data is mounted without pquota/ },
    'GetHostResources before any task',
  );
  const { end, output, diskNote } = await runDiskTask(h, ex);
  t.equal(end.state, 'TASK_STATE_FINISHED', output);
  t.match(output, /big-exit=0/, 'the task writes past its disk size');
  t.match(diskNote, /accounted only, not enforced \(the engine refused a size limit: --storage-opt is supported only for overlay over xfs with 'pquota'/);
});
