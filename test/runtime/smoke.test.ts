import t from 'tap';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';

t.test('a task that exits 0 finishes', async (t) => {
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h);
  const taskId = uniqueTaskId();
  const updates = await ex.run({
    taskId,
    containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, version: 'latest', process: { command: ['sh', '-c', 'echo hello; exit 0'] } },
  });
  t.comment(updates.map((u) => `${u.state} ${u.message}`).join('\n'));
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED');
});
