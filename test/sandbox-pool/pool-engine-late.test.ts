/**
 * The executor starts while the engine is down: the pool is not given up (it
 * waits for the engine, then writes the hook config, probes and fills), and
 * the first task after that is pooled with its own hostname.
 */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness } from '../harness/index.js';
import { createFakeOciAddHooks } from '../fixtures/oci-add-hooks/fake-oci-add-hooks.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';
import { hostnameFor } from '../../src/task/build-container-spec.js';

t.test('an engine that comes up after the executor: the pool starts when it answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-pool-late-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const fake = createFakeOciAddHooks({ dir, hookConfigPath });
  const h = await useHarness(t, { runtimes: { 'oci-add-hooks': fake.runtimePath } });
  let ex: TestExecutor | undefined;
  // Down while the executor starts; up again once it has.
  await h.restartEngine(0, {
    until: async () => {
      ex = await startTestExecutor(t, h, {
        sandboxPool: { size: 1 },
        gpu: { hookConfigPath, lockDir: join(dir, 'locks'), nvidiaSmiPath: join(dir, 'no-nvidia-smi'), deviceNodePath: join(dir, 'no-nvidia0') },
      });
      t.notOk(existsSync(hookConfigPath), 'no hook config written while the engine does not answer');
    },
  });
  const executor = ex as unknown as TestExecutor;
  let line = '';
  for (let i = 0; i < 300 && !line.startsWith('sandbox pool: 1/1 ready'); i++) {
    line = (await call(executor.client.GetHostResources.bind(executor.client), {})).status.find((s) => s.startsWith('sandbox pool:')) ?? '';
    if (!line.startsWith('sandbox pool: 1/1 ready')) await new Promise((r) => setTimeout(r, 100));
  }
  t.match(line, 'sandbox pool: 1/1 ready', 'the pool filled once the engine answered');
  const taskId = uniqueTaskId('late');
  const updates = await executor.run({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['hostname'] } } });
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED');
  t.equal(((await executor.get(taskId)).outputTail ?? '').trim(), hostnameFor(taskId), 'its own hostname');
  t.match((await call(executor.client.GetHostResources.bind(executor.client), {})).status.join('\n'), /1 launches pooled, 0 fell back/, 'and it was pooled');
});
