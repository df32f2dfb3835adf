/**
 * Volumes across an executor crash: a real `titus-executor serve` child
 * process is SIGKILLed while two tasks with NFS volumes run, one of which
 * exits while no executor runs, and a mount is left under the mount directory
 * for a task no record names. After the restart the running task keeps its
 * mount (its container still sees the export), the task that ended has its
 * volume unmounted, the stray mount is unmounted, and once the running task
 * is killed the census (volume mounts included) is empty.
 *
 * Real parts: dockerd from the harness, the executor's mount calls, the
 * kernel's bind mounts, `umount`. Fake: test/fixtures/nfs/fake-mount-nfs as
 * volumes.mountCommand stands for mount(8) + mount.nfs4 + the kernel's NFS
 * client (this machine's kernel has none), and its export directory stands
 * for the NFS server's export: it bind-mounts that directory where the NFS
 * export would be mounted.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import { useHarness } from '../harness/index.js';
import { mountsUnder, unmountUnder } from '../harness/mounts.js';
import { settledCensus } from '../helpers/census.js';
import { uniqueTaskId } from '../helpers/executor.js';
import { needsBuild, serveProcesses } from '../helpers/serve-process.js';
import { TERMINAL, eventually, sleep } from '../helpers/watch.js';

const FAKE_MOUNT = fileURLToPath(new URL('../fixtures/nfs/fake-mount-nfs', import.meta.url));

t.test('SIGKILL with tasks holding volumes: live mounts kept, mounts of tasks that are gone unmounted', { skip: needsBuild() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-volcrash-'));
  t.teardown(() => {
    unmountUnder(dir); // a failed run may leave mounts: never remove through them
    rmSync(dir, { recursive: true, force: true });
  });
  const h = await useHarness(t);
  const executorId = `volcrash-${h.runId}`;
  const exportRoot = join(dir, 'exports');
  const mountDir = join(dir, 'mounts');
  const argsLog = join(dir, 'mount-args.log');
  const exported = join(exportRoot, 'nfs.test', 'vol');
  mkdirSync(exported, { recursive: true });
  writeFileSync(join(exported, 'hello'), 'from the export\n');
  const serve = serveProcesses(t, dir, {
    executorId,
    docker: { host: h.dockerHost, pullAttempts: 1 },
    volumes: { mountCommand: [FAKE_MOUNT, exportRoot, argsLog], mountDir },
  });
  const efsConfigInfo = [{ efsFsId: 'nfs.test', mountPoint: '/vol', efsFsRelativeMntPoint: '/vol' }];
  const state = async (c: TitusExecutorClient, id: string) => call(c.GetTask.bind(c), { taskId: id });
  const waitFor = (c: TitusExecutorClient, id: string, re: RegExp) => eventually(`${id} reaches ${re}`, async () => re.test((await state(c, id)).state ?? ''));
  const volumeOf = (taskId: string): string => join(mountDir, taskId, '0');

  const first = await serve.start();
  const c1 = first.client;
  const launch = async (kind: string, command: string[]): Promise<string> => {
    const taskId = uniqueTaskId(kind);
    await call(c1.LaunchTask.bind(c1), { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command }, efsConfigInfo } });
    return taskId;
  };
  const running = await launch('vrun', ['sleep', '300']);
  const exiting = await launch('vexit', ['sh', '-c', 'sleep 3; echo done > /vol/exiting.txt']);
  await waitFor(c1, running, /RUNNING/);
  await waitFor(c1, exiting, /RUNNING/);
  t.same(mountsUnder(volumeOf(running)), [volumeOf(running)], 'the running task has its volume');
  t.same(mountsUnder(volumeOf(exiting)), [volumeOf(exiting)], 'so has the exiting one');
  // A mount a crash left for a task that no record names (say, an executor killed mid-launch whose records were lost).
  const ghost = join(mountDir, 'ghost-task', '0');
  mkdirSync(ghost, { recursive: true });
  t.equal(spawnSync('mount', ['--bind', exported, ghost]).status, 0, 'a stray volume mount is in place');

  await first.crash();
  await sleep(4000); // the exiting task exits while no executor runs
  t.equal(readFileSync(join(exported, 'exiting.txt'), 'utf8'), 'done\n', 'the task wrote to the export while the executor was down');

  const second = await serve.start();
  const c2 = second.client;
  t.teardown(() => c2.close());
  await waitFor(c2, exiting, TERMINAL);
  t.match((await state(c2, exiting)).lastUpdate, { state: 'TASK_STATE_FINISHED' }, 'the task that exited while down is FINISHED');
  await eventually('the ended task and the stray mount are unmounted', async () => mountsUnder(volumeOf(exiting)).length === 0 && mountsUnder(ghost).length === 0);
  t.notOk(existsSync(join(mountDir, exiting)), 'the ended task\'s volume directory is gone');
  t.notOk(existsSync(join(mountDir, 'ghost-task')), 'the stray task directory is gone');
  t.match((await state(c2, running)).state, /RUNNING/, 'the running task is re-attached');
  t.same(mountsUnder(volumeOf(running)), [volumeOf(running)], 'its volume is still mounted after the restart');
  const containerId = (await state(c2, running)).containerId ?? '';
  const seen = await h.docker(['exec', containerId, 'cat', '/vol/hello']);
  t.equal(seen.stdout, 'from the export\n', 'and its container still sees the export');

  await call(c2.KillTask.bind(c2), { taskId: running, killWaitSeconds: 1 });
  await waitFor(c2, running, TERMINAL);
  t.same(await settledCensus({ h, executorId, client: c2, volumeMountDir: mountDir }), [], 'nothing left that no live task owns, volume mounts included');
});
