/**
 * The titus-executor command line (the built bin/titus-executor.js) against an
 * in-process executor on a real engine from test/harness.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cliNotBuilt, runCli } from '../helpers/cli-process.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { loadExecutorProto } from '../../src/api/proto.js';

const built = cliNotBuilt() === false;
const run = runCli;

let h: Harness;
let ex: TestExecutor;

const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('the CLI', { skip: built ? false : 'needs `npm run build` (npm test builds first)' }, async (t) => {
  h = await useHarness(t);
  ex = await startTestExecutor(t, h);
  const image = `${h.images.busyboxRepo}:latest`;
  const sock = ['--socket', ex.socket];

  t.test('launch --wait --output json prints every update in the proto JSON mapping', async (t) => {
    const id = uniqueTaskId('cli');
    const r = await run([...sock, '-o', 'json', 'launch', '--wait', '--task-id', id, '--image', image, '-e', 'A=from-cli', '--memory', '64', '--', 'sh', '-c', 'echo "$A $TITUS_NUM_MEM"']);
    t.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    t.same(lines.map((l) => l['state']).slice(0, 2), ['TASK_STATE_ACCEPTED', 'TASK_STATE_STARTING']);
    t.equal(lines.at(-1)?.['state'], 'TASK_STATE_FINISHED');
    t.match(lines[0], { taskId: id, sequence: /^\d+$/, titusState: 'Launched', timestamp: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/ });
    const got = await run([...sock, '-o', 'json', 'get', id]);
    const task = JSON.parse(got.stdout) as Record<string, unknown>;
    t.match(task, { taskId: id, state: 'TASK_STATE_FINISHED', outputTail: 'from-cli 64\n', acceptedAt: /Z$/ });
    t.match(task['containerInfo'], { userProvidedEnv: { A: 'from-cli' } });
    const text = await run([...sock, 'get', id]);
    t.match(text.stdout, /timeline:/);
    for (const step of ['ACCEPTED', 'STARTING', 'RUNNING', 'FINISHED']) {
      t.match(text.stdout, new RegExp(`\\+\\d+\\.\\d{3}s\\s+\\(\\d+ ms\\)\\s+${step}`), `the timeline shows ${step} with its offset and step time`);
    }
  });

  t.test('launch --wait exits non-zero unless the task FINISHED; text output names the state', async (t) => {
    const r = await run([...sock, 'launch', '--wait', '--image', image, '--', 'sh', '-c', 'echo oops; exit 3']);
    t.equal(r.code, 1);
    t.match(r.stdout, /FAILED\s+failed\s+main container exited with code 3/);
    t.match(r.stdout, /\| oops/, 'the output tail is printed');
  });

  t.test('launch --container-info takes JSON, raw bytes and base64', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'titus-cli-'));
    const info = { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] } };
    writeFileSync(join(dir, 'ci.json'), JSON.stringify(info));
    const bytes = loadExecutorProto().encodeContainerInfo(info);
    writeFileSync(join(dir, 'ci.bin'), bytes);
    writeFileSync(join(dir, 'ci.b64'), Buffer.from(bytes).toString('base64'));
    for (const file of ['ci.json', 'ci.bin', 'ci.b64']) {
      const r = await run([...sock, 'launch', '--wait', '--container-info', join(dir, file)]);
      t.equal(r.code, 0, `${file}: ${r.stderr}`);
      t.match(r.stdout, /FINISHED/, file);
    }
  });

  t.test('kill, ps, watch and the socket from the environment', async (t) => {
    const id = uniqueTaskId('cli');
    const launched = await run(['launch', '--task-id', id, '--image', image, '--', 'sleep', '300'], { TITUS_EXECUTOR_SOCKET: ex.socket });
    t.equal(launched.code, 0, launched.stderr);
    t.match(launched.stdout, /RUNNING/, 'launch without --wait follows the task until RUNNING');
    const ps = await run([...sock, 'ps']);
    t.match(ps.stdout, new RegExp(`${id}\\s+RUNNING`));
    const killed = await run([...sock, 'kill', '--wait', '--kill-wait', '1', '--reason', 'cli test', id]);
    t.equal(killed.code, 0, killed.stderr);
    t.match(killed.stdout, /KILLED\s+killed\s+task killed on behalf of the control plane: cli test/);
    const psAll = await run([...sock, 'ps', '--all']);
    t.match(psAll.stdout, new RegExp(`${id}\\s+KILLED`));
    t.notMatch((await run([...sock, 'ps'])).stdout, new RegExp(id), 'ended tasks only with --all');
  });

  t.test('errors are clear and exit non-zero', async (t) => {
    const missing = await run([...sock, 'get', 'no-such-task']);
    t.equal(missing.code, 2);
    t.match(missing.stderr, /no task no-such-task on this host/);
    const bad = await run([...sock, 'launch', '--image', 'Not/Valid']);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /containerInfo.fullyQualifiedImage: "Not\/Valid" is not a valid image name/);
    const nobody = await run(['--socket', join(tmpdir(), 'no-such.sock'), 'ps']);
    t.not(nobody.code, 0);
    t.match(nobody.stderr, /cannot reach the executor at unix:\/\/.*no-such\.sock.*titus-executor serve/);
  });
});
