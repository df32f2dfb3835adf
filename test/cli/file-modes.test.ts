/**
 * A mode census of every file the executor and `run-task` create for a task
 * whose env carries a secret: the state directory (records, sequence, drain
 * flag), the task logs, run-task's directory and its `--state-file`. Looked
 * at as an unprivileged user would (the directories above are opened to
 * everyone, as /var/lib and /run are): `nobody` can read none of them, every
 * file that holds the request is 0600 in a directory closed to others.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { writePrivateFileSync } from '../../src/common/atomic-file.js';
import { assertBuilt, spawnRunTask } from './run-task-process.js';

const SECRET = `s3cr3t-${process.pid}-${Date.now()}`;

interface Entry {
  readonly path: string;
  readonly mode: number;
  readonly dirMode: number;
  readonly holdsSecret: boolean;
}

/** Every regular file under `root`, with its mode and its directory's. */
const census = (root: string): Entry[] => {
  const out: Entry[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) {
        out.push({ path, mode: st.mode & 0o7777, dirMode: lstatSync(dir).mode & 0o7777, holdsSecret: readFileSync(path, 'utf8').includes(SECRET) });
      }
    }
  };
  walk(root);
  return out;
};

/** Whether `nobody` can read the file (setpriv: no root, no groups). */
const nobodyCanRead = (path: string): boolean =>
  spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'cat', path], { stdio: 'ignore' }).status === 0;

const checkAll = (t: import('tap').Test, entries: readonly Entry[], what: string): void => {
  t.ok(entries.length > 0, `${what}: files to look at`);
  t.ok(entries.some((e) => e.holdsSecret), `${what}: the secret is in some file (the census sees it)`);
  for (const e of entries) {
    const shown = `${e.path.slice(e.path.lastIndexOf('/', e.path.lastIndexOf('/') - 1))} ${e.mode.toString(8)} in ${e.dirMode.toString(8)}`;
    t.equal(e.mode & 0o007, 0, `${what}: no access for others: ${shown}`);
    t.notOk(nobodyCanRead(e.path), `${what}: nobody cannot read ${shown}`);
    if (e.holdsSecret) {
      t.equal(e.mode, 0o600, `${what}: holds the request, so 0600: ${shown}`);
      t.equal(e.dirMode & 0o007, 0, `${what}: in a directory closed to others: ${shown}`);
    }
  }
};

/** Opens the path and its parents below `top` to everyone, as /var/lib and /run are, so modes alone decide. */
const openParents = (top: string): void => chmodSync(top, 0o755);

t.test('a mode census of what the executor and run-task create', async (t) => {
  assertBuilt();
  const h = await useHarness(t);
  const top = mkdtempSync(join(tmpdir(), 'titus-modes-'));
  t.teardown(() => rmSync(top, { recursive: true, force: true }));
  openParents(top);
  const image = h.images.busyboxRepo;
  const containerInfo = (command: string[]) => ({ fullyQualifiedImage: image, userProvidedEnv: { DB_PASSWORD: SECRET }, process: { command } });

  await t.test('the daemon: state directory and logs', async (t) => {
    const stateDir = join(top, 'state');
    const ex = await startTestExecutor(t, h, { stateDir, executorId: `modes-${h.runId}`, tasks: { retainEnded: 1 } });
    for (let i = 0; i < 2; i++) {
      const updates = await ex.run({ taskId: uniqueTaskId('modes'), containerInfo: containerInfo(['sh', '-c', 'echo some output; echo more >&2']) });
      t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED');
    }
    ex.executor.tasks.setDrain(true, 'census');
    ex.executor.tasks.setDrain(false, 'census');
    const entries = census(stateDir);
    const names = entries.map((e) => e.path.slice(stateDir.length + 1).replace(/modes-[^/.]+/, '<task>'));
    for (const expected of ['tasks/<task>.json', 'sequence', 'drain.json', 'logs/<task>/output.log', 'logs/<task>/ended']) {
      t.ok(names.includes(expected), `${expected} is among the files looked at`);
    }
    checkAll(t, entries, 'daemon');
  });

  await t.test('run-task: its run-task directory and --state-file', async (t) => {
    const runTaskDir = join(top, 'run', 'run-task');
    const stateFile = join(top, 'run', 'task-unit', 'state.json');
    mkdirSync(join(top, 'run'), { mode: 0o755 });
    chmodSync(join(top, 'run'), 0o755);
    const configFile = join(top, 'run-task.yaml');
    writeFileSync(configFile, toYaml({ executorId: `modes-${h.runId}`, logLevel: 'warn', docker: { host: h.dockerHost } }));
    const infoFile = join(top, 'info.json');
    writeFileSync(infoFile, JSON.stringify(containerInfo(['true'])), { mode: 0o600 });
    const p = spawnRunTask(['--config', configFile, '--task-id', uniqueTaskId('modes-rt'), '--container-info', infoFile, '--run-task-dir', runTaskDir, '--state-file', stateFile]);
    const exit = await p.exit;
    t.equal(exit.code, 0, 'run-task ran the task', { stderr: exit.stderr });
    const entries = [...census(runTaskDir), ...census(dirname(stateFile))];
    t.equal(entries.length, 2, 'its two files: the published task and the state file');
    checkAll(t, entries, 'run-task');
  });

  await t.test('an older run-task directory open to everyone is closed before a request goes in', async (t) => {
    const runTaskDir = join(top, 'old-run-task');
    mkdirSync(runTaskDir, { mode: 0o755 });
    chmodSync(runTaskDir, 0o755);
    const configFile = join(top, 'run-task.yaml');
    const infoFile = join(top, 'info.json');
    const p = spawnRunTask(['--config', configFile, '--task-id', uniqueTaskId('modes-old'), '--container-info', infoFile, '--run-task-dir', runTaskDir]);
    t.equal((await p.exit).code, 0);
    t.equal(lstatSync(runTaskDir).mode & 0o777, 0o700);
    checkAll(t, census(runTaskDir), 'old run-task directory');
  });

  await t.test('writePrivateFileSync: 0600 in a 0700 directory it creates', async (t) => {
    const file = join(top, 'helper', 'deep', 'state.json');
    writePrivateFileSync(file, SECRET);
    t.equal(lstatSync(file).mode & 0o777, 0o600);
    t.equal(lstatSync(dirname(file)).mode & 0o777, 0o700);
    t.equal(lstatSync(join(top, 'helper')).mode & 0o777, 0o700);
    t.notOk(nobodyCanRead(file));
  });
});
