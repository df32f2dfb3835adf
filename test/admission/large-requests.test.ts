/**
 * A request at the admission limits runs (issue 19): the environment near its
 * 1 MiB total and a command line near its 512 KiB once reached the engine as
 * a query string as well as a body, and the engine answered HTTP 431 (header
 * too large); the task ended LOST. Now only the name travels in the query,
 * and the process labels stay bounded, naming the whole by size and hash.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { executorSuite, uniqueTaskId } from '../helpers/executor.js';
import { LABEL, MAX_DERIVED_LABEL_BYTES } from '../../src/runtime/labels.js';

const suite = executorSuite(t);

suite.test('a near-1 MiB environment and a 400 KiB command line run, with bounded labels', async (t) => {
  const { ex, h } = suite;
  const taskId = uniqueTaskId('large');
  const env = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`BIG_${i}`, String(i).repeat(120 * 1024)]));
  const args = Array.from({ length: 4 }, (_, i) => String.fromCharCode(97 + i).repeat(100 * 1024));
  const script = 'test "${#BIG_7}" -eq 122880 && test "${#1}" -eq 102400 && sleep 60';
  await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, userProvidedEnv: env, process: { entrypoint: ['sh', '-c', script, 'sh'], command: args } } });
  const updates = await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  t.notOk(
    updates.some((u) => ['TASK_STATE_LOST', 'TASK_STATE_FAILED'].includes(u.state ?? '')),
    updates.map((u) => u.message).join(' / '),
  );
  const { stdout } = await h.docker(['inspect', '--format', `{{json .Config.Labels}}`, taskId]);
  const labels = JSON.parse(stdout) as Record<string, string>;
  const command = labels[LABEL.command] ?? '';
  t.ok(Buffer.byteLength(command) <= MAX_DERIVED_LABEL_BYTES, `the command label is ${Buffer.byteLength(command)} bytes`);
  const whole = args.join(' ');
  t.ok(command.endsWith(`[${Buffer.byteLength(whole)} bytes, sha256:${createHash('sha256').update(whole).digest('hex')}]`), 'and names the whole command');
  t.ok(Buffer.byteLength(JSON.stringify(labels)) < 16 * 1024, 'all labels together stay small');
  await ex.kill(taskId, 0);
  const end = (await ex.waitForState(taskId, 'terminal')).at(-1);
  t.equal(end?.state, 'TASK_STATE_KILLED', `killed while it ran (the script checked its env and arguments): ${end?.message ?? ''}`);
});
