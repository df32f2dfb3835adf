import t from 'tap';
import { parseConfig } from '../../src/config/config.js';
import { buildContainerSpec, hostnameFor } from '../../src/task/build-container-spec.js';
import { buildEnv } from '../../src/task/env.js';
import { imageRefFor } from '../../src/runtime/image-ref.js';
import type { LaunchSpec } from '../../src/task/types.js';

const config = parseConfig({ executorId: 'ex1' });
const launch = (extra: Partial<LaunchSpec['containerInfo']> = {}, resources: Partial<LaunchSpec['resources']> = {}): LaunchSpec => ({
  taskId: 'Task_1.A',
  containerInfo: { imageName: 'org/app', ...extra },
  resources: { cpu: 1.5, memoryMb: 256, diskMb: 1000, networkMbps: 100, gpus: 0, ...resources },
  labels: {},
});

t.test('container spec: limits, labels, runtime defaults', async (t) => {
  const l = launch({ capabilities: { add: ['NET_ADMIN'], drop: ['MKNOD'] }, shmSizeMB: 64, appName: 'app', iamProfile: 'arn:aws:iam::1:role/r' });
  const image = imageRefFor(l.containerInfo, '');
  const spec = buildContainerSpec({ launch: l, image, imageConfig: { id: 'x', entrypoint: [], cmd: ['/bin/sh'], sizeBytes: 1 }, env: {}, config, executorPid: 42 });
  t.equal(spec.name, 'Task_1.A');
  t.equal(spec.hostname, 'task-1-a');
  t.equal(spec.cpuShares, 150);
  t.equal(spec.cpuPeriodUs, 100000);
  t.equal(spec.cpuQuotaUs, 150000);
  t.equal(spec.memoryBytes, 256 * 1024 * 1024);
  t.equal(spec.memorySwapBytes, spec.memoryBytes, 'swap equal to memory');
  t.equal(spec.shmSizeBytes, 64 * 1024 * 1024);
  t.same(spec.tmpfs, { '/run': `rw,exec,size=${128 * 1024 * 1024}` });
  t.equal(spec.init, true);
  t.same(spec.securityOpt, ['no-new-privileges']);
  t.same(spec.capAdd, ['NET_ADMIN']);
  t.same(spec.capDrop, ['MKNOD']);
  t.equal(spec.oomScoreAdj, 1000);
  t.equal(spec.networkMode, 'none');
  t.equal(spec.runtime, undefined, 'engine default runtime');
  t.same(spec.ulimits.find((u) => u.name === 'core'), { name: 'core', soft: 1000 * 1024 * 1024 + 1024 ** 3, hard: 1000 * 1024 * 1024 + 1024 ** 3 });
  t.match(spec.labels, {
    'titus.executor.id': 'ex1',
    'titus.task_id': 'Task_1.A',
    'titus.executor.pid': '42',
    'com.netflix.titus.cpu': '1.5',
    'com.netflix.titus.mem': '256',
    'com.netflix.titus.workload.type': 'static',
    'com.netflix.titus.appName': 'app',
    'ec2.iam.role': 'arn:aws:iam::1:role/r',
  });
  const burst = buildContainerSpec({ launch: launch({ allowCpuBursting: true, oomScoreAdj: 0 }), image, imageConfig: { id: 'x', entrypoint: [], cmd: ['sh'], sizeBytes: 1 }, env: {}, config, executorPid: 1 });
  t.equal(burst.cpuQuotaUs, undefined, 'no quota when bursting');
  t.equal(burst.labels['com.netflix.titus.workload.type'], 'burst');
  t.equal(burst.oomScoreAdj, 0, 'an explicit 0 is honoured (proto2 presence)');
  const long = hostnameFor('-X_'.repeat(40));
  t.ok(long.length <= 63 && /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(long), `a valid hostname: ${long}`);
});

t.test('container spec: NetworkDisabled only with network mode none', async (t) => {
  const l = launch();
  const base = { launch: l, image: imageRefFor(l.containerInfo, ''), imageConfig: { id: 'x', entrypoint: [], cmd: ['sh'], sizeBytes: 1 }, env: {}, config, executorPid: 1 };
  t.equal(buildContainerSpec(base).networkDisabled, undefined, 'the engine sets up the namespace unless a part says otherwise');
  const own = buildContainerSpec({ ...base, networkMode: 'none', networkDisabled: true });
  t.equal(own.networkDisabled, true, 'a namespace from the runtime (OwnNamespacePart)');
  t.equal(own.hostname, 'task-1-a', 'still the task\'s hostname: the engine sets it');
  const joined = buildContainerSpec({ ...base, networkMode: 'container:abc', networkDisabled: true });
  t.equal(joined.networkDisabled, undefined, 'never with a joined namespace: that container\'s network is the task\'s');
});

t.test('env: priority, frigga names, invalid names skipped', async (t) => {
  const l = launch({
    appName: 'myapp',
    jobGroupStack: 'prod',
    jobGroupDetail: 'api',
    jobGroupSequence: 'v007',
    batch: true,
    passthroughAttributes: { 'titusParameter.agent.batchPriority': 'idle' },
    userProvidedEnv: { A: 'user', TITUS_NUM_CPU: 'user-cannot-override?', '1BAD': 'x', EMPTY: '' },
    titusProvidedEnv: { A: 'titus', TITUS_TASK_ID: 'from-titus' },
  });
  const { env, skipped } = buildEnv({ taskId: 't1', info: l.containerInfo, resources: l.resources, image: imageRefFor(l.containerInfo, ''), hardCoded: { EC2_DOMAIN: 'amazonaws.com' } });
  t.equal(env['A'], 'titus');
  t.equal(env['EC2_DOMAIN'], 'amazonaws.com');
  t.equal(env['NETFLIX_APP'], 'myapp');
  t.equal(env['NETFLIX_CLUSTER'], 'myapp-prod-api');
  t.equal(env['NETFLIX_AUTO_SCALE_GROUP'], 'myapp-prod-api-v007');
  t.equal(env['TITUS_BATCH'], 'idle');
  t.equal(env['TITUS_TASK_ID'], 'from-titus', 'the control plane value is kept');
  t.equal(env['TITUS_NUM_CPU'], 'user-cannot-override?', 'user env sits above the resource defaults, as in Titus');
  t.notOk('EMPTY' in env, 'empty values dropped');
  t.equal(skipped.length, 1);
  t.match(skipped[0], /1BAD/);
  const legacy = buildEnv({
    taskId: 't2',
    info: { imageName: 'a', environmentVariable: [{ name: 'OLD', value: '1' }] },
    resources: l.resources,
    image: imageRefFor({ imageName: 'a' }, ''),
    hardCoded: {},
  });
  t.equal(legacy.env['OLD'], '1', 'legacy list used when both maps are empty');
  t.equal(legacy.env['TITUS_TASK_ID'], 't2');
  t.equal(legacy.env['NETFLIX_AUTO_SCALE_GROUP'], 'a-v000');
  const huge = buildEnv({ taskId: 't3', info: { imageName: 'a', userProvidedEnv: { BIG: 'x'.repeat(200_000), NUL: 'a\0b' } }, resources: l.resources, image: imageRefFor({ imageName: 'a' }, ''), hardCoded: {} });
  t.notOk('BIG' in huge.env);
  t.notOk('NUL' in huge.env);
  t.equal(huge.skipped.length, 2);
});
