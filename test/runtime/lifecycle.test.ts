/**
 * Task lifecycle against a real dockerd and registry (test/harness): states,
 * exit codes, images by tag and digest, entrypoints, env and cgroup limits.
 * No fakes: the engine, the registry and the containers are real.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { executorSuite, uniqueTaskId } from '../helpers/executor.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';

const suite = executorSuite(t);
const test = suite.test;

const busybox = (extra: ContainerInfo = {}): ContainerInfo => ({ fullyQualifiedImage: suite.h.images.busyboxRepo, ...extra });
const last = (u: TaskStatusUpdate__Output[]): TaskStatusUpdate__Output => u[u.length - 1] as TaskStatusUpdate__Output;
const states = (u: TaskStatusUpdate__Output[]): string[] => u.map((x) => (x.state ?? '').replace('TASK_STATE_', ''));

/** Runs a task to its end and returns its last update and captured output. */
const runToEnd = async (info: ContainerInfo, resources = {}): Promise<{ end: TaskStatusUpdate__Output; output: string; all: TaskStatusUpdate__Output[] }> =>
  runToEndWithId(uniqueTaskId(), info, resources);

const runToEndWithId = async (
  taskId: string,
  info: ContainerInfo,
  resources = {},
): Promise<{ end: TaskStatusUpdate__Output; output: string; all: TaskStatusUpdate__Output[] }> => {
  const all = await suite.ex.run({ taskId, containerInfo: info, resources });
  const task = await suite.ex.get(taskId);
  return { end: last(all), output: task.outputTail ?? '', all };
};

test('a task that exits 0 is FINISHED, after STARTING and RUNNING', async (t) => {
  const { end, all } = await runToEnd(busybox({ process: { command: ['sh', '-c', 'exit 0'] } }));
  t.equal(end.state, 'TASK_STATE_FINISHED');
  t.equal(end.reasonCode, 'normal');
  t.equal(end.titusState, 'Finished');
  t.equal(end.exit?.exitCode, 0);
  const seen = states(all);
  t.same(seen.slice(0, 2), ['ACCEPTED', 'STARTING']);
  t.ok(seen.includes('RUNNING'), 'went through RUNNING');
  t.equal(seen.filter((s) => ['FINISHED', 'FAILED', 'KILLED', 'LOST'].includes(s)).length, 1, 'exactly one terminal update');
  const seqs = all.map((u) => Number(u.sequence));
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'sequence numbers increase');
});

test('a task that exits 5 is FAILED "exited with code 5"', async (t) => {
  const { end } = await runToEnd(busybox({ process: { command: ['sh', '-c', 'exit 5'] } }));
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.equal(end.reasonCode, 'failed');
  t.match(end.message, /exited with code 5/);
  t.equal(end.exit?.exitCode, 5);
});

test('an image reachable only by digest is pulled by digest', async (t) => {
  const { end, all } = await runToEnd({
    fullyQualifiedImage: suite.h.images.byDigestOnlyRepo,
    imageDigest: suite.h.images.byDigestOnlyDigest,
    version: 'latest', // the digest wins over the tag
    process: { command: ['sh', '-c', 'exit 0'] },
  });
  t.equal(end.state, 'TASK_STATE_FINISHED', end.message ?? '');
  t.ok(all.some((u) => u.message?.includes(`@${suite.h.images.byDigestOnlyDigest}`)), 'pulled the digest reference');
  // A second launch reuses the local image: pinned by digest, so no pull is needed.
  const again = await runToEnd({ fullyQualifiedImage: suite.h.images.byDigestOnlyRepo, imageDigest: suite.h.images.byDigestOnlyDigest, process: { command: ['true'] } });
  t.equal(again.end.state, 'TASK_STATE_FINISHED');
  t.notOk(again.all.some((u) => u.pull !== undefined && u.pull !== null), 'no pull progress on the second launch');
});

test('a missing tag is FAILED with reason invalidRequest', async (t) => {
  const { end, all } = await runToEnd(busybox({ version: 'no-such-tag', process: { command: ['true'] } }));
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.equal(end.reasonCode, 'invalidRequest');
  t.match(end.message, /not found/);
  t.notOk(states(all).includes('RUNNING'));
});

test('a malformed image reference is INVALID_ARGUMENT and creates nothing', async (t) => {
  for (const info of [
    { imageName: 'UPPER/case' },
    { imageName: 'ok', version: 'bad tag!' },
    { imageName: 'ok', imageDigest: 'sha256:short' },
    { imageName: '' },
  ] satisfies ContainerInfo[]) {
    const taskId = uniqueTaskId('bad');
    await t.rejects(suite.ex.launch({ taskId, containerInfo: info }), { code: grpc.status.INVALID_ARGUMENT }, JSON.stringify(info));
    await t.rejects(suite.ex.get(taskId), { code: grpc.status.NOT_FOUND }, 'no task was recorded');
  }
});

test('entrypoint and command follow Docker semantics', async (t) => {
  const ep = (extra: ContainerInfo): ContainerInfo => ({ fullyQualifiedImage: suite.h.images.entrypoint.replace(/:latest$/, ''), ...extra });
  const cases: Array<[string, ContainerInfo, RegExp]> = [
    ['image defaults', ep({}), /^from-entrypoint from-cmd$/m],
    ['command replaces CMD', ep({ process: { command: ['mine'] } }), /^from-entrypoint mine$/m],
    ['entrypoint replaces ENTRYPOINT and drops CMD', ep({ process: { entrypoint: ['/bin/echo', 'own'] } }), /^own$/m],
    ['both replaced', ep({ process: { entrypoint: ['/bin/echo'], command: ['a', 'b'] } }), /^a b$/m],
    ['[""] clears the entrypoint, CMD runs alone', ep({ process: { entrypoint: [''], command: ['/bin/echo', 'plain'] } }), /^plain$/m],
    ['[""] clears CMD', ep({ process: { command: [''] } }), /^from-entrypoint$/m],
    ['legacy entrypointStr is shell-split', ep({ entrypointStr: `/bin/echo 'two words' "and more"` }), /^two words and more$/m],
  ];
  for (const [name, info, expected] of cases) {
    const { end, output } = await runToEnd(info);
    t.equal(end.state, 'TASK_STATE_FINISHED', `${name}: ${end.message}`);
    t.match(output, expected, name);
  }
  const cleared = await runToEnd(ep({ process: { entrypoint: [''], command: [''] } }));
  t.equal(cleared.end.state, 'TASK_STATE_FAILED', 'nothing left to run fails');
  t.match(cleared.end.message, /no entrypoint or command/);
  const missing = await runToEnd(busybox({ process: { entrypoint: ['/no/such/binary'] } }));
  t.equal(missing.end.state, 'TASK_STATE_FAILED', 'a bad entrypoint fails');
  t.match(missing.end.message, /exited with code 127: "\/no\/such\/binary" not found/);
});

test('env from both maps, the resources and the image reach the container', async (t) => {
  const { end, output } = await runToEnd(
    busybox({
      version: 'latest',
      iamProfile: 'arn:aws:iam::123456789012:role/TaskRole',
      userProvidedEnv: { USER_ONLY: 'u', BOTH: 'from-user', 'bad-name': 'x' },
      titusProvidedEnv: { TITUS_ONLY: 't', BOTH: 'from-titus' },
      process: { command: ['env'] },
    }),
    { cpu: 2, memoryMb: 256, diskMb: 1024, networkMbps: 50 },
  );
  t.equal(end.state, 'TASK_STATE_FINISHED');
  const env = Object.fromEntries(
    output
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  t.equal(env['USER_ONLY'], 'u');
  t.equal(env['TITUS_ONLY'], 't');
  t.equal(env['BOTH'], 'from-titus', 'Titus-provided values win');
  t.notOk('bad-name' in env, 'invalid names are skipped');
  t.equal(env['TITUS_NUM_CPU'], '2');
  t.equal(env['TITUS_NUM_MEM'], '256');
  t.equal(env['TITUS_NUM_DISK'], '1024');
  t.equal(env['TITUS_NUM_NETWORK_BANDWIDTH'], '50');
  t.equal(env['TITUS_NUM_GPU'], '0');
  t.equal(env['TITUS_IMAGE_NAME'], suite.h.images.busyboxRepo);
  t.equal(env['TITUS_IMAGE_TAG'], 'latest');
  t.equal(env['TITUS_IAM_ROLE'], 'arn:aws:iam::123456789012:role/TaskRole');
});

test('memory limit, swap, CPU shares and quota are in the container cgroup', async (t) => {
  const script = [
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
    'cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-memsw',
    'cat /sys/fs/cgroup/cpu/cpu.shares',
    'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us',
    'cat /sys/fs/cgroup/pids/pids.max',
    'df -k /run | tail -1',
    'cat /proc/1/oom_score_adj',
  ].join('; ');
  const { end, output } = await runToEnd(busybox({ process: { command: ['sh', '-c', script] } }), { cpu: 2, memoryMb: 64 });
  t.equal(end.state, 'TASK_STATE_FINISHED', end.message ?? '');
  const lines = output.trim().split('\n');
  t.equal(lines[0], String(64 * 1024 * 1024), 'memory limit');
  if (lines[1] !== 'no-memsw') t.equal(lines[1], String(64 * 1024 * 1024), 'swap equals memory: no swap');
  t.equal(lines[2], '200', 'CPU shares are 100 per CPU');
  t.equal(lines[3], '200000', 'CFS quota is period x CPUs');
  t.equal(lines[4], '100000', 'pids limit');
  t.match(lines[5] ?? '', /\s131072\s/, '/run is a 128 MiB tmpfs');
  t.equal(lines[6], '1000', 'oom_score_adj defaults to 1000');
  const burst = await runToEnd(busybox({ allowCpuBursting: true, process: { command: ['cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us'] } }), { cpu: 1 });
  t.equal(burst.output.trim(), '-1', 'no CFS quota when bursting is allowed');
});

test('a task that runs out of memory is FAILED with OOMKilled', async (t) => {
  const { end } = await runToEnd(busybox({ process: { command: ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1'] } }), { memoryMb: 16 });
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.match(end.message, /OOMKilled/);
  t.equal(end.exit?.oomKilled, true);
});

test('tasks that run out of memory together are all reported OOMKilled, even those the engine misses', async (t) => {
  // dockerd learns of an OOM kill only once containerd watches the container's cgroup; these die
  // in their first milliseconds, and started together some are reported as a plain exit 137 by
  // the engine. The executor also reads the kernel's log (src/runtime/kernel-oom-log.ts).
  const hog = busybox({ process: { command: ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1'] } });
  // Six: the kernel's full OOM report is rate-limited to 10 per 5 s, and other tests run OOMs too.
  const ends = await Promise.all(Array.from({ length: 6 }, () => runToEnd(hog, { memoryMb: 16 })));
  t.same(
    ends.map(({ end }) => [end.state, end.exit?.exitCode, end.exit?.oomKilled]),
    ends.map(() => ['TASK_STATE_FAILED', 137, true]),
  );
});

test('a container of the same name that this executor does not own is never touched', async (t) => {
  const taskId = uniqueTaskId('foreign');
  await suite.h.docker(['pull', suite.h.images.busybox]);
  await suite.h.docker(['create', '--name', taskId, '--network', 'none', suite.h.images.busybox, 'sleep', '1']);
  t.teardown(() => suite.h.docker(['rm', '-f', taskId], { allowFailure: true }));
  const { end } = await runToEndWithId(taskId, busybox({ process: { command: ['true'] } }));
  t.equal(end.state, 'TASK_STATE_FAILED');
  t.equal(end.reasonCode, 'invalidRequest');
  t.match(end.message, /does not belong to this executor/);
  const still = await suite.h.docker(['inspect', '-f', '{{.Name}}', taskId], { allowFailure: true });
  t.equal(still.stdout.trim(), `/${taskId}`, 'the foreign container is still there');
});
