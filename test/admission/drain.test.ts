/**
 * Draining against a real engine: while drained, launches are refused with
 * UNAVAILABLE and running tasks carry on; GetHostResources says so; the flag
 * survives an executor restart on the same state directory; after `drain off`
 * launches are accepted again. Also the `drain` and `host` commands of the
 * built CLI.
 */
import t from 'tap';
import { cliNotBuilt, runCli } from '../helpers/cli-process.js';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness, containersWithLabel, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';

const built = cliNotBuilt('drain') === false;

const setDrain = (ex: TestExecutor, draining: boolean, reason = '') => call(ex.client.SetDrain.bind(ex.client), { draining, reason });
const hostResources = (ex: TestExecutor) => call(ex.client.GetHostResources.bind(ex.client), {});
const sinceMs = (s: { seconds?: string; nanos?: number } | null | undefined): number => Number(s?.seconds ?? 0) * 1000 + Math.floor((s?.nanos ?? 0) / 1e6);

let h: Harness;

t.test('draining', async (t) => {
  h = await useHarness(t);
  const dir = mkdtempSync(join(tmpdir(), 'titus-drain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const overrides = { stateDir: join(dir, 'state') };
  const busybox = (command: string): ContainerInfo => ({ fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sh', '-c', command] } });

  let ex = await startTestExecutor(t, h, overrides);
  const initial = await hostResources(ex);
  t.match(initial.drain, { draining: false, reason: '' }, 'a fresh host is not draining');

  const running = uniqueTaskId('drain-running');
  const runningRequest = { taskId: running, containerInfo: busybox('sleep 300') };
  await ex.launch(runningRequest);
  await ex.waitForState(running, 'TASK_STATE_RUNNING');

  const before = Date.now();
  const on = await setDrain(ex, true, 'kernel upgrade');
  t.match(on, { draining: true, reason: 'kernel upgrade' });
  t.ok(sinceMs(on.since) >= before - 1000 && sinceMs(on.since) <= Date.now() + 1000, 'since: now');
  t.same(JSON.parse(readFileSync(join(overrides.stateDir, 'drain.json'), 'utf8')), { draining: true, reason: 'kernel upgrade', sinceMs: sinceMs(on.since) }, 'persisted');

  const refused = uniqueTaskId('drain-refused');
  await t.rejects(ex.launch({ taskId: refused, containerInfo: busybox('true') }), {
    code: grpc.status.UNAVAILABLE,
    details: /^this host is draining since \S+Z: kernel upgrade; it accepts no new tasks .*titus-executor drain off/,
  });
  await t.rejects(ex.get(refused), { code: grpc.status.NOT_FOUND }, 'nothing recorded for the refused launch');
  t.equal((await ex.launch(runningRequest)).state, 'TASK_STATE_RUNNING', 'a retried launch of a running task still gets it');
  const drained = await hostResources(ex);
  t.match(drained.drain, { draining: true, reason: 'kernel upgrade' }, 'GetHostResources says so');
  t.equal(sinceMs(drained.drain?.since), sinceMs(on.since));
  t.equal((await ex.get(running)).state, 'TASK_STATE_RUNNING', 'the running task is unaffected');
  t.match((await setDrain(ex, true, '')).since, on.since ?? {}, 'draining again keeps since');

  await ex.executor.stop(); // the task's container keeps running
  ex = await startTestExecutor(t, h, overrides);
  await ex.executor.recovered;
  t.match((await hostResources(ex)).drain, { draining: true, reason: 'kernel upgrade' }, 'still drained after a restart');
  await t.rejects(ex.launch({ taskId: uniqueTaskId('drain-refused'), containerInfo: busybox('true') }), { code: grpc.status.UNAVAILABLE, details: /kernel upgrade/ });
  const { stdout: inspected } = await h.docker(['inspect', '--format', '{{.State.Running}}', running]);
  t.equal(inspected.trim(), 'true', "the running task's container ran through the restart");

  await t.test('the drain and host commands', { skip: built ? false : 'needs `npm run build` (npm test builds first)' }, async (t) => {
    const sock = ['--socket', ex.socket];
    const shown = await runCli([...sock, 'drain']);
    t.equal(shown.code, 0, shown.stderr);
    t.match(shown.stdout, /^DRAINING since \S+Z: kernel upgrade \(new launches are refused; `titus-executor drain off` to undo\)$/m);
    const host = await runCli([...sock, 'host']);
    t.equal(host.code, 0, host.stderr);
    t.match(host.stdout, /^state\s+DRAINING since .*kernel upgrade/m);
    t.match(host.stdout, /^CPUs\s+1024\s+1\s+1023$/m, 'totals, allocated and available per resource');
    const off = await runCli([...sock, 'drain', 'off', '--reason', 'upgrade done']);
    t.equal(off.code, 0, off.stderr);
    t.match(off.stdout, /^accepting tasks \(not draining\)$/m);
    t.match((await hostResources(ex)).drain, { draining: false, reason: 'upgrade done' });
    const json = await runCli([...sock, '-o', 'json', 'drain', 'on', '--reason', 'from the CLI']);
    t.equal(json.code, 0, json.stderr);
    t.match(JSON.parse(json.stdout), { draining: true, reason: 'from the CLI', since: /Z$/ });
    await t.rejects(ex.launch({ taskId: uniqueTaskId('drain-refused'), containerInfo: busybox('true') }), { code: grpc.status.UNAVAILABLE, details: /from the CLI/ });
    const hostJson = await runCli([...sock, '-o', 'json', 'host']);
    t.match(JSON.parse(hostJson.stdout), { drain: { draining: true }, total: { cpu: 1024 }, available: { cpu: 1023 } });
    const wrong = await runCli([...sock, 'drain', 'sideways']);
    t.not(wrong.code, 0, 'only on or off');
    t.match(wrong.stderr, /sideways/);
  });

  await setDrain(ex, false, 'maintenance over');
  const after = await hostResources(ex);
  t.match(after.drain, { draining: false, reason: 'maintenance over' });
  const accepted = await ex.run({ taskId: uniqueTaskId('drain-after'), containerInfo: busybox('echo back in business') });
  t.equal(accepted.at(-1)?.state, 'TASK_STATE_FINISHED', 'launches are accepted again');

  // The running task: the restarted executor knows it again, or it is cleared out by hand.
  await ex.kill(running, 0).catch(async () => void (await h.docker(['rm', '-f', running], { allowFailure: true })));
  await ex.waitForState(running, 'terminal').catch(() => undefined);
  t.same(await containersWithLabel(h, 'titus.executor.id', ex.config.executorId), [], 'no container left behind');
});
