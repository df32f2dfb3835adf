/**
 * A Titus v1.Pod as a launch: each recorded pod translates to the launch its
 * annotations and container spec ask for, and whatever the executor cannot
 * honour is refused naming the annotation or pod field.
 */
import t, { type Test } from 'tap';
import { loadExecutorProto } from '../../src/api/proto.js';
import { parseConfig } from '../../src/config/config.js';
import { isExecutorError } from '../../src/common/errors.js';
import { parsePodLaunch } from '../../src/task/titus-pod/parse-pod-launch.js';
import { readPodFixture, type Pod } from './fixtures.js';

const proto = loadExecutorProto();
const ctx = { defaults: parseConfig({}).defaultResources, decodeContainerInfo: proto.decodeContainerInfo, registry: '' };
const parse = (pod: unknown) => parsePodLaunch(JSON.stringify(pod), ctx).spec;

/** The refusal's message, which must name `field`. */
const refusal = (t: Test, pod: unknown, field: string, why: RegExp): void => {
  try {
    parse(pod);
    t.fail(`accepted; expected a refusal naming ${field}`);
  } catch (err) {
    t.ok(isExecutorError(err, 'INVALID_ARGUMENT'), 'INVALID_ARGUMENT');
    const message = (err as Error).message;
    t.ok(message.startsWith(`${field}: `), `names ${field}: ${message}`);
    t.match(message, why);
  }
};

const withAnnotations = (pod: Pod, extra: Record<string, string | undefined>): Pod => {
  const annotations = { ...pod.metadata.annotations };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete annotations[k];
    else annotations[k] = v;
  }
  return { ...pod, metadata: { ...pod.metadata, annotations } };
};

const withContainer = (pod: Pod, extra: Record<string, unknown>): Pod => ({
  ...pod,
  spec: { ...pod.spec, containers: [{ ...pod.spec.containers[0], ...extra } as Pod['spec']['containers'][number]] },
});

t.test('batch job: workload annotations, system env apart from the user env, limits in bytes and bits', async (t) => {
  const spec = parse(readPodFixture('batch-job'));
  t.equal(spec.taskId, '5b2ef1a8-6d0c-4c55-9d3e-7f1a2b3c4d5e', 'metadata.name is the task id');
  t.match(spec.containerInfo, {
    fullyQualifiedImage: 'registry.us-east-1.titus.example.com/reports/nightlyreport',
    version: '2022.03.14',
    appName: 'nightlyreport',
    jobGroupStack: 'prod',
    jobGroupDetail: 'eu',
    jobGroupSequence: 'v012',
    jobId: 'a318b9eb-50bf-4927-a9eb-b3d5a757f364',
    jobAcceptedTimestampMs: '1647282099371',
    batch: true,
    killWaitSeconds: 30,
    process: { entrypoint: ['/bin/sh', '-c'] },
    passthroughAttributes: { 'titus.agent.jobType': 'BATCH' },
  });
  t.same(spec.containerInfo.userProvidedEnv, { REPORT_REGION: 'eu-west-1' }, 'names not in system-env-var-names are the user’s');
  t.same(Object.keys(spec.containerInfo.titusProvidedEnv ?? {}).sort(), ['NETFLIX_EXECUTOR', 'TITUS_JOB_ID', 'TITUS_TASK_ID', 'TITUS_TASK_INDEX']);
  t.same(spec.resources, { cpu: 1, memoryMb: 512, diskMb: 10240, networkMbps: 128, gpus: 0 }, '512Mi, 10Gi and 128M (bits/s)');
  t.equal(spec.labels['titus.netflix.com/capacity-group'], 'DEFAULT', 'pod labels are the task’s labels');
});

t.test('service job: security groups, bandwidth, bursting off, owner and job type as Titus’ attributes', async (t) => {
  const spec = parse(readPodFixture('service-job'));
  t.same(spec.containerInfo.networkConfigInfo?.securityGroups, ['sg-web']);
  t.equal(spec.resources.networkMbps, 50);
  t.equal(spec.containerInfo.allowNetworkBursting, false);
  t.equal(spec.containerInfo.killWaitSeconds, 5, 'terminationGracePeriodSeconds is the grace period');
  t.match(spec.containerInfo.passthroughAttributes, {
    'titus.agent.ownerEmail': 'edge-team@example.com',
    'titus.agent.jobType': 'SERVICE',
    'titusParameter.agent.assignIPv6Address': 'false',
  });
});

t.test('GPU job: nvidia.com/gpu is the GPU count, an image digest is kept as the digest', async (t) => {
  const spec = parse(readPodFixture('gpu-job'));
  t.equal(spec.resources.gpus, 1);
  t.equal(spec.resources.networkMbps, 1000, '1G bits/s');
  t.equal(spec.containerInfo.imageDigest, `sha256:${'1'.repeat(64)}`);
  t.equal(spec.containerInfo.process?.entrypoint?.length, 3, 'command alone is the entrypoint');
  t.equal(spec.containerInfo.process?.command, undefined);
});

t.test('role and passthrough: IAM role, IMDS token, idle batch, OOM score, shell-split entrypoint, deadline', async (t) => {
  const spec = parse(readPodFixture('role-and-passthrough'));
  t.equal(spec.containerInfo.iamProfile, 'arn:aws:iam::123456789012:role/BillingContainerRole');
  t.match(spec.containerInfo.passthroughAttributes, {
    'titusParameter.agent.imds.requireToken': 'true',
    'titusParameter.agent.batchPriority': 'idle',
    'titus.agent.ownerEmail': 'billing-oncall@example.com',
  });
  t.equal(spec.containerInfo.oomScoreAdj, 500);
  t.equal(spec.containerInfo.allowCpuBursting, true);
  t.match(spec.containerInfo.entrypointStr, /^\/bin\/sh -c 'sleep 1; echo role=/, 'entrypoint-shell-splitting-enabled: the command is one string to split');
  t.equal(spec.runtimeLimitSeconds, 600, 'activeDeadlineSeconds is the runtime limit');
});

t.test('schema 0: the containerInfo annotation says what runs; the pod sizes it and adds env', async (t) => {
  const spec = parse(readPodFixture('container-info-v0'));
  t.match(spec.containerInfo, {
    fullyQualifiedImage: 'registry.us-east-1.titus.example.com/legacy/cronjob',
    version: '1.4.2',
    iamProfile: 'arn:aws:iam::123456789012:role/LegacyCronRole',
    killWaitSeconds: 3,
    passthroughAttributes: { 'titusParameter.agent.batchPriority': 'idle', 'titus.agent.ownerEmail': 'cron-owners@example.com' },
  });
  t.same(spec.containerInfo.userProvidedEnv, { LEGACY_MODE: 'on', TITUS_TASK_INSTANCE_ID: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a' });
  t.same(spec.resources, { cpu: 1, memoryMb: 256, diskMb: 2048, networkMbps: 128, gpus: 0 });
  const alternate = readPodFixture('container-info-v0');
  const annotations = alternate.metadata.annotations ?? {};
  annotations['pod.titus.netflix.com/container-info'] = annotations['containerInfo'] ?? '';
  delete annotations['containerInfo'];
  t.equal(parse(alternate).containerInfo.appName, 'legacycron', 'pod.titus.netflix.com/container-info is the same annotation');
});

t.test('an unsupported or unknown annotation is refused, naming it', async (t) => {
  const pod = readPodFixture('batch-job');
  refusal(t, withAnnotations(pod, { 'log.netflix.com/s3-bucket-name': 'com.example.logs' }), 'metadata.annotations["log.netflix.com/s3-bucket-name"]', /not supported.*not uploaded/);
  refusal(t, withAnnotations(pod, { 'network.netflix.com/elastic-ips': 'eipalloc-1' }), 'metadata.annotations["network.netflix.com/elastic-ips"]', /elastic IPs/);
  refusal(t, withAnnotations(pod, { 'service.netflix.com/servicemesh.v1.enabled': 'true' }), 'metadata.annotations["service.netflix.com/servicemesh.v1.enabled"]', /sidecars/);
  refusal(t, withAnnotations(pod, { 'example.com/whatever': 'x' }), 'metadata.annotations["example.com/whatever"]', /not an annotation this executor knows/);
  // fuse-enabled is honoured now (next test); the seccomp agent is still a feature this executor lacks.
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/seccomp-agent-perf-enabled': 'true' }), 'metadata.annotations["pod.netflix.com/seccomp-agent-perf-enabled"]', /true is not supported/);
  t.equal(parse(withAnnotations(pod, { 'pod.netflix.com/seccomp-agent-perf-enabled': 'false' })).taskId, pod.metadata.name, 'a feature switched off is accepted');
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/hostname-style': 'ec2' }), 'metadata.annotations["pod.netflix.com/hostname-style"]', /ec2 is not supported/);
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/cpu-bursting-enabled': 'yes' }), 'metadata.annotations["pod.netflix.com/cpu-bursting-enabled"]', /not a boolean/);
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/pod-schema-version': '2' }), 'metadata.annotations["pod.netflix.com/pod-schema-version"]', /not supported/);
  refusal(t, withAnnotations(pod, { 'kubernetes.io/egress-bandwidth': '64M' }), 'metadata.annotations["kubernetes.io/egress-bandwidth"]', /differs from/);
  refusal(t, withAnnotations(pod, { 'pod.titus.netflix.com/system-env-var-names': undefined }), 'metadata.annotations["pod.titus.netflix.com/system-env-var-names"]', /required in pod schema 1/);
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/pod-schema-version': undefined }), 'metadata.annotations["containerInfo"]', /is required without/);
});

t.test('container spec fields the executor does not honour are refused, naming the field', async (t) => {
  const pod = readPodFixture('batch-job');
  refusal(t, withContainer(pod, { livenessProbe: { exec: { command: ['true'] } } }), 'spec.containers[0].livenessProbe', /not supported/);
  refusal(t, withContainer(pod, { env: [{ name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }), 'spec.containers[0].env[0].valueFrom', /only literal values/);
  refusal(t, withContainer(pod, { tty: true }), 'spec.containers[0].tty', /TTY/);
  refusal(t, withContainer(pod, { resources: { limits: { cpu: '1', memory: '4Mi' } } }), 'spec.containers[0].resources.limits["memory"]', /at least 6 MiB/);
  refusal(t, withContainer(pod, { resources: { limits: { 'example.com/fpga': '1' } } }), 'spec.containers[0].resources.limits["example.com/fpga"]', /not a resource/);
  refusal(t, withContainer(pod, { image: 'Not A Valid/Image:tag' }), 'spec.containers[0].image', /not a valid image name/);
  refusal(t, withContainer(pod, { env: [{ name: 'BAD=NAME', value: 'x' }] }), 'spec.containers[0].env[0]', /=/);
  refusal(t, withContainer(pod, { securityContext: { capabilities: { add: ['NOT_A_CAP'] } } }), 'spec.containers[0].securityContext.capabilities.add[0]', /not a Linux capability/);
  refusal(t, { ...pod, spec: { ...pod.spec, containers: [pod.spec.containers[0], { name: 'sidecar', image: 'busybox' }] } }, 'spec.containers', /exactly one container/);
  refusal(t, { ...pod, spec: { ...pod.spec, volumes: [{ name: 'v', emptyDir: {} }] } }, 'spec.volumes', /volumes are not supported/);
  refusal(t, { ...pod, spec: { ...pod.spec, restartPolicy: 'Always' } }, 'spec.restartPolicy', /Never/);
  refusal(t, { ...pod, metadata: { ...pod.metadata, name: 'bad name!' } }, 'metadata.name', /must be 1-128 characters/);
});

t.test('a schema-0 ContainerInfo the launch refuses is named as the annotation', async (t) => {
  const pod = readPodFixture('container-info-v0');
  refusal(t, withAnnotations(pod, { containerInfo: 'not base64!' }), 'metadata.annotations["containerInfo"]', /not standard base64/);
  const info = proto.decodeContainerInfo(Buffer.from(pod.metadata.annotations?.['containerInfo'] ?? '', 'base64')) as unknown as Record<string, unknown>;
  const bad = Buffer.from(proto.encodeContainerInfo({ ...info, capabilities: { add: [12345] } })).toString('base64');
  refusal(t, withAnnotations(pod, { containerInfo: bad }), 'metadata.annotations["containerInfo"].capabilities.add[0]', /not a Linux capability/);
  refusal(t, withContainer(pod, { command: ['/bin/true'] }), 'spec.containers[0].command', /containerInfo annotation/);
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/pod-schema-version': '1' }), 'metadata.annotations["containerInfo"]', /schema-0 form/);
});

t.test('malformed input is refused as the pod', async (t) => {
  for (const [input, why] of [
    ['{', /not JSON/],
    ['[]', /not a JSON object/],
    ['', /is empty/],
  ] as const) {
    t.throws(() => parsePodLaunch(input, ctx), { message: why }, JSON.stringify(input));
  }
  t.throws(() => parsePodLaunch(JSON.stringify(readPodFixture('batch-job')), ctx, { taskId: 'other' }), { message: /^taskId: "other" differs from the pod's metadata.name/ });
});

t.test('FUSE, KVM, container capabilities and AppArmor annotations become the security passthrough attributes', async (t) => {
  const pod = readPodFixture('batch-job');
  const main = pod.spec.containers[0]?.name ?? '';
  const attrs = (extra: Record<string, string>): Record<string, string> | undefined => parse(withAnnotations(pod, extra)).containerInfo.passthroughAttributes;
  const A = 'titusParameter.agent.';
  t.match(attrs({ 'pod.netflix.com/fuse-enabled': 'true' }), { [`${A}fuseEnabled`]: 'true' });
  t.match(attrs({ 'pod.netflix.com/kvm-enabled': 'True' }), { [`${A}kvmEnabled`]: 'true' });
  t.match(attrs({ 'pod.netflix.com/fuse-enabled': 'false' }), { [`${A}fuseEnabled`]: 'false' });
  t.match(attrs({ [`${main}.containers.netflix.com/capabilities`]: 'FUSE' }), { [`${A}fuseEnabled`]: 'true' });
  t.match(attrs({ [`${main}.containers.netflix.com/capabilities`]: 'Default,ImageBuilding' }), { [`${A}imageBuildingEnabled`]: 'true' });
  t.match(attrs({ [`container.apparmor.security.beta.kubernetes.io/${main}`]: 'localhost/docker_fuse' }), { [`${A}apparmorProfile`]: 'docker_fuse' });
  t.notOk(attrs({ [`container.apparmor.security.beta.kubernetes.io/${main}`]: 'runtime/default' })?.[`${A}apparmorProfile`], 'runtime/default is the engine default');
  const cap = `metadata.annotations["${main}.containers.netflix.com/capabilities"]`;
  refusal(t, withAnnotations(pod, { [`${main}.containers.netflix.com/capabilities`]: 'FUSE,ImageBuilding' }), cap, /more than one container capability/);
  refusal(t, withAnnotations(pod, { [`${main}.containers.netflix.com/capabilities`]: 'Magic' }), cap, /not a container capability/);
  refusal(t, withAnnotations(pod, { 'sidecar.containers.netflix.com/capabilities': 'FUSE' }), 'metadata.annotations["sidecar.containers.netflix.com/capabilities"]', /not supported/);
  refusal(t, withAnnotations(pod, { 'container.apparmor.security.beta.kubernetes.io/other': 'localhost/x' }), 'metadata.annotations["container.apparmor.security.beta.kubernetes.io/other"]', /names no container of this pod/);
  refusal(t, withAnnotations(pod, { [`container.apparmor.security.beta.kubernetes.io/${main}`]: 'docker_fuse' }), `metadata.annotations["container.apparmor.security.beta.kubernetes.io/${main}"]`, /not runtime\/default, localhost\/<profile> or unconfined/);
  refusal(t, withAnnotations(pod, { 'pod.netflix.com/kvm-enabled': 'maybe' }), 'metadata.annotations["pod.netflix.com/kvm-enabled"]', /not a boolean/);
});
