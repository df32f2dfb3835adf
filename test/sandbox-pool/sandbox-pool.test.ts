/**
 * The warm pool of sandboxes (network.driver none) on a real dockerd, with
 * the fake oci-add-hooks (test/fixtures/oci-add-hooks: merges the hook config
 * into config.json as the real wrapper does, then runs the real runc)
 * registered as the runtime that runs the executor's hostname hook
 * (hooks/task-hostname).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containersWithLabel, useHarness, type Harness } from '../harness/index.js';
import { createFakeOciAddHooks, type FakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';
import { hostnameFor } from '../../src/task/build-container-spec.js';

const POOL_SIZE = 2;
let h: Harness;
let ex: TestExecutor;
let fake: FakeOciAddHooks;
let dir: string;
let hookConfigPath: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'titus-pool-'));
  hookConfigPath = join(dir, 'oci-hooks.json');
  fake = createFakeOciAddHooks({ dir, hookConfigPath });
  h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  ex = await startTestExecutor(t, h, {
    sandboxPool: { size: POOL_SIZE },
    gpu: { hookConfigPath, lockDir: join(dir, 'locks'), nvidiaSmiPath: join(dir, 'no-nvidia-smi'), deviceNodePath: join(dir, 'no-nvidia0') },
  });
});
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const poolStatus = async (): Promise<string> => {
  const r = await call(ex.client.GetHostResources.bind(ex.client), {});
  return r.status.find((s) => s.startsWith('sandbox pool:')) ?? '(no pool line)';
};

const untilPoolReady = async (timeoutMs = 30_000): Promise<string> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = await poolStatus();
    if (line.includes(`${POOL_SIZE}/${POOL_SIZE} ready`) || Date.now() > deadline) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** What a task sees of itself, its first instruction first. */
const SELF_REPORT = 'hostname; cat /etc/hostname; echo "hosts:$(grep -c "$(hostname)" /etc/hosts)"; readlink /proc/self/ns/net; sleep 1';

const inspect = async (id: string): Promise<{ HostConfig: { NetworkMode: string; Runtime: string }; Mounts: Array<{ Source: string; Destination: string }> }> => {
  const { stdout } = await h.docker(['inspect', id]);
  return (JSON.parse(stdout) as Array<{ HostConfig: { NetworkMode: string; Runtime: string }; Mounts: Array<{ Source: string; Destination: string }> }>)[0]!;
};

interface Seen {
  readonly taskId: string;
  readonly lines: string[];
  readonly networkMode: string;
  readonly runtime: string;
  readonly mounts: ReadonlyMap<string, string>;
}

/** Launches the tasks at once, each reporting on itself; returns what each saw and how its container was made. */
const launchTogether = async (t: Test, n: number): Promise<Seen[]> => {
  const reqs = Array.from({ length: n }, () => ({
    taskId: uniqueTaskId('pool'),
    containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', SELF_REPORT] } },
  }));
  const seen: Seen[] = [];
  await Promise.all(
    reqs.map(async (req) => {
      await ex.launch(req);
      await ex.waitForState(req.taskId, 'TASK_STATE_RUNNING');
      const task = await ex.get(req.taskId);
      const info = await inspect(task.containerId ?? '');
      const updates = await ex.waitForState(req.taskId, 'TASK_STATE_FINISHED');
      const done = await ex.get(req.taskId);
      seen.push({
        taskId: req.taskId,
        lines: (done.outputTail ?? '').trim().split('\n'),
        networkMode: info.HostConfig.NetworkMode,
        runtime: info.HostConfig.Runtime,
        mounts: new Map(info.Mounts.map((m) => [m.Destination, m.Source])),
      });
      t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', `${req.taskId} finished`);
    }),
  );
  return seen;
};

t.test('pooled tasks carry their own hostname, /etc/hostname and /etc/hosts from the first instruction, and share nothing', async (t) => {
  t.match(await untilPoolReady(), `${POOL_SIZE}/${POOL_SIZE} ready`, 'the pool filled after the hook probe passed');
  const hooks = JSON.parse(readFileSync(hookConfigPath, 'utf8')) as { hooks: { poststart?: Array<{ path: string }> } };
  t.match(hooks.hooks.poststart?.[0]?.path ?? '', /hooks\/task-hostname$/, 'the executor put its hostname hook in the hook config');
  const seen = await launchTogether(t, 2);
  for (const s of seen) {
    const own = hostnameFor(s.taskId);
    t.match(s.networkMode, /^container:[0-9a-f]{64}$/, 'the task joined a pooled sandbox');
    t.equal(s.runtime, 'oci-add-hooks', 'through the hook runtime');
    t.equal(s.lines[0], own, '`hostname`, the first thing the task ran, is its own name');
    t.equal(s.lines[1], own, '/etc/hostname is its own');
    t.equal(s.lines[2], 'hosts:1', '/etc/hosts names it');
  }
  const [a, b] = seen as [Seen, Seen];
  t.not(a.networkMode, b.networkMode, 'two sandboxes');
  t.not(a.lines[3], b.lines[3], 'two network namespaces');
  t.not(a.lines[0], b.lines[0], 'two hostnames');
  for (const target of ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']) {
    t.ok(a.mounts.get(target), `${target} is bind-mounted`);
    t.not(a.mounts.get(target), b.mounts.get(target), `${target} is a file of each task's own`);
  }
  t.match(await poolStatus(), /2 launches pooled, 0 fell back/);
});

t.test('the pool refills in the background after tasks took from it', async (t) => {
  t.match(await untilPoolReady(), `${POOL_SIZE}/${POOL_SIZE} ready`);
});

t.test('an empty pool is no error: the task beyond it gets a namespace of its own', async (t) => {
  await untilPoolReady();
  const seen = await launchTogether(t, POOL_SIZE + 1);
  const unpooled = seen.filter((s) => s.networkMode === 'none');
  t.equal(unpooled.length, 1, 'one task fell back to network mode none');
  t.equal(seen.filter((s) => s.networkMode.startsWith('container:')).length, POOL_SIZE);
  for (const s of seen) t.equal(s.lines[0], hostnameFor(s.taskId), `${s.taskId} has its own hostname either way`);
  t.match(await poolStatus(), /4 launches pooled, 1 fell back/);
});

t.test('sandboxPool.size 0 keeps today\'s path even where the hook runtime is registered', async (t) => {
  const off = await startTestExecutor(t, h, {
    executorId: `pool-off-${h.runId}`,
    sandboxPool: { size: 0 },
    gpu: { hookConfigPath: join(dir, 'off-hooks.json'), lockDir: join(dir, 'off-locks'), nvidiaSmiPath: join(dir, 'no-nvidia-smi'), deviceNodePath: join(dir, 'no-nvidia0') },
  });
  const taskId = uniqueTaskId('off');
  await off.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', 'hostname; sleep 1'] } } });
  await off.waitForState(taskId, 'TASK_STATE_RUNNING');
  const info = await inspect((await off.get(taskId)).containerId ?? '');
  t.equal(info.HostConfig.NetworkMode, 'none', 'network mode none, as before the pool');
  t.notOk(info.Mounts.some((m) => m.Destination === '/etc/hostname' && m.Source.endsWith('titus-task-hostname')), 'no hostname file of the pool');
  const r = await call(off.client.GetHostResources.bind(off.client), {});
  t.notOk(r.status.some((s) => s.startsWith('sandbox pool:')), 'no pool line');
  t.equal(info.HostConfig.Runtime, 'runc', 'the engine\'s default runtime');
  const pooled = (await h.docker(['ps', '-aq', '--filter', `label=titus.executor.id=${off.config.executorId}`, '--filter', 'label=titus.executor.role=pooled-sandbox'])).stdout.trim();
  t.equal(pooled, '', 'no pooled sandbox made');
  await off.waitForState(taskId, 'TASK_STATE_FINISHED');
  t.equal(((await off.get(taskId)).outputTail ?? '').trim(), hostnameFor(taskId));
  await off.stop();
});

t.test('a stopped executor leaves no sandbox behind', async (t) => {
  await untilPoolReady();
  await ex.stop();
  t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container of this executor left');
});
