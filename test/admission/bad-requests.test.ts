/**
 * Admission through gRPC against a real engine: a table of bad requests, each
 * answered with its documented status code and a message naming the field;
 * afterwards nothing exists for any of them (no task, no container, no task
 * record), and the executor still runs a normal task to FINISHED.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import { call } from '../../src/cli/client.js';
import { loadExecutorProto } from '../../src/api/proto.js';
import { TASK_ID_RE, MAX_CONTAINER_INFO_BYTES, RUNTIME_LIMIT_ATTRIBUTE } from '../../src/api/validate.js';
import type { WatchTaskStatusRequest } from '../../src/proto/generated/titus/executor/v1/WatchTaskStatusRequest.js';
import { LABEL } from '../../src/runtime/labels.js';
import type { ContainerInfo } from '../../src/proto/generated/messages/ContainerInfo.js';
import type { LaunchTaskRequest } from '../../src/proto/generated/titus/executor/v1/LaunchTaskRequest.js';

/** Small enough that the exhaustion rows are exact, big enough for the default task (1 CPU, 512 MiB, 10 GiB, 128 Mbps). */
const HOST = { cpu: 4, memoryMb: 8192, diskMb: 100_000, networkMbps: 1000 };
const SERVICE = '/titus.executor.v1.TitusExecutor';
const proto = loadExecutorProto();

let h: Harness;
let ex: TestExecutor;
let raw: grpc.Client;

t.before(async () => {
  h = await useHarness(t);
  ex = await startTestExecutor(t, h, { host: HOST });
  raw = new grpc.Client(`unix://${ex.socket}`, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
});

/** Sends `bytes` as the request body as is, past any client-side serializer. */
const sendRaw = (method: string, bytes: Uint8Array): Promise<unknown> =>
  new Promise((resolve, reject) => {
    raw.makeUnaryRequest(
      `${SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(bytes),
      (err, res) => (err !== null ? reject(err) : resolve(res)),
    );
  });

const launch = (req: LaunchTaskRequest): Promise<unknown> => call(ex.client.LaunchTask.bind(ex.client), req);
/**
 * A watch refused at once rejects with its status; one that sends anything
 * (a keep-alive) or stays open a second is "accepted".
 */
const watch = (req: WatchTaskStatusRequest): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const stream = ex.client.WatchTaskStatus(req);
    const timer = setTimeout(() => {
      stream.cancel();
      resolve('open');
    }, 1000);
    stream.on('data', () => {
      clearTimeout(timer);
      stream.cancel();
      resolve('sent an event');
    });
    stream.on('error', (err: grpc.ServiceError) => {
      clearTimeout(timer);
      if (err.code === grpc.status.CANCELLED) resolve('open');
      else reject(err);
    });
  });
const busybox = (extra: ContainerInfo = {}): ContainerInfo => ({ fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] }, ...extra });
const infoBytes = (info: Record<string, unknown>): Uint8Array => proto.encodeContainerInfo(info);

/** Protobuf by hand: field numbers and wire types of executor.proto and agent.proto. */
const writer = (): protobuf.Writer => protobuf.Writer.create();
const str = (w: protobuf.Writer, field: number, v: string): protobuf.Writer => w.uint32((field << 3) | 2).string(v);
const sub = (w: protobuf.Writer, field: number, inner: protobuf.Writer): protobuf.Writer => w.uint32((field << 3) | 2).bytes(inner.finish());
/** A LaunchTaskRequest with a good task id and a good ContainerInfo; `extra` appends more fields. */
const rawLaunch = (taskId: string, extra: (w: protobuf.Writer) => void = () => undefined): Uint8Array => {
  const w = str(writer(), 1, taskId);
  sub(w, 2, str(str(writer(), 31, h.images.busyboxRepo), 4, 'latest'));
  extra(w);
  return w.finish();
};

/** Deterministic "random" bytes (xorshift32), so a failure can be replayed. */
const pseudoRandomBytes = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
};

interface Row {
  readonly name: string;
  readonly code: grpc.status;
  /** The message must name the field (or, for unknown tasks, the task). */
  readonly message: RegExp;
  /** The task id the row asked for, checked for leftovers afterwards. */
  readonly taskId?: string;
  send(): Promise<unknown>;
}

const { INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ALREADY_EXISTS, NOT_FOUND } = grpc.status;

/** A message-form LaunchTask row with its own task id. */
const bad = (name: string, code: grpc.status, message: RegExp, req: Omit<LaunchTaskRequest, 'taskId'> & { taskId?: string }): Row => {
  const taskId = req.taskId ?? uniqueTaskId('bad');
  return { name, code, message, taskId, send: () => launch({ ...req, taskId }) };
};
/** A raw-bytes LaunchTask row; `body` gets the row's task id. */
const badRaw = (name: string, message: RegExp, body: (taskId: string) => Uint8Array): Row => {
  const taskId = uniqueTaskId('raw');
  return { name, code: INVALID_ARGUMENT, message, taskId, send: () => sendRaw('LaunchTask', body(taskId)) };
};

const rows = (holder: string): Row[] => {
  const holderCommand = ['sleep', '300'];
  return [
    // Task ids.
    bad('no task id', INVALID_ARGUMENT, /^taskId: is required/, { taskId: '', containerInfo: busybox() }),
    bad('task id with a slash', INVALID_ARGUMENT, /^taskId: must be/, { taskId: 'a/b', containerInfo: busybox() }),
    bad('task id of 129 characters', INVALID_ARGUMENT, /^taskId: must be/, { taskId: `a${'b'.repeat(128)}`, containerInfo: busybox() }),
    bad('task id starting with a dash', INVALID_ARGUMENT, /^taskId: must be/, { taskId: '-lead', containerInfo: busybox() }),
    // The image.
    bad('no ContainerInfo at all', INVALID_ARGUMENT, /^containerInfo: is required/, {}),
    bad('missing image', INVALID_ARGUMENT, /^containerInfo\.imageName: an image is required/, { containerInfo: { process: { command: ['true'] } } }),
    bad('upper-case repository', INVALID_ARGUMENT, /^containerInfo\.imageName: "UPPER\/case" is not a valid image name/, { containerInfo: { imageName: 'UPPER/case' } }),
    bad('image name with a space', INVALID_ARGUMENT, /^containerInfo\.fullyQualifiedImage: /, { containerInfo: busybox({ fullyQualifiedImage: 'busy box' }) }),
    bad('bad tag', INVALID_ARGUMENT, /^containerInfo\.version: "bad tag!" is not a valid image tag/, { containerInfo: busybox({ version: 'bad tag!' }) }),
    bad('bad digest', INVALID_ARGUMENT, /^containerInfo\.imageDigest: "sha256:xyz" is not a digest/, { containerInfo: busybox({ imageDigest: 'sha256:xyz' }) }),
    bad('registry port 0', INVALID_ARGUMENT, /^containerInfo\.fullyQualifiedImage: "127\.0\.0\.1:0\/x" is not a valid image name .*port of 1-65535/, {
      containerInfo: busybox({ fullyQualifiedImage: '127.0.0.1:0/x' }),
    }),
    bad('registry port 99999', INVALID_ARGUMENT, /^containerInfo\.fullyQualifiedImage: "127\.0\.0\.1:99999\/x" is not a valid image name/, {
      containerInfo: busybox({ fullyQualifiedImage: '127.0.0.1:99999/x' }),
    }),
    bad('registry port 65536 in imageName', INVALID_ARGUMENT, /^containerInfo\.imageName: "localhost:65536\/app" is not a valid image name/, { containerInfo: { imageName: 'localhost:65536/app' } }),
    // The process (refused by the engine, the kernel or the shell-word parser after acceptance, once).
    bad('entrypointStr with an unbalanced double quote', INVALID_ARGUMENT, /^containerInfo\.entrypointStr: unterminated double quote/, {
      containerInfo: busybox({ entrypointStr: 'echo "hi' }),
    }),
    bad('entrypointStr with an unbalanced single quote', INVALID_ARGUMENT, /^containerInfo\.entrypointStr: unterminated single quote/, {
      containerInfo: busybox({ entrypointStr: "sh -c 'exit 0" }),
    }),
    bad('a 1 MB command argument', INVALID_ARGUMENT, /^containerInfo\.process\.command\.1: argument 1 is 1048576 bytes, over the 131071-byte limit for one argument/, {
      containerInfo: busybox({ process: { command: ['echo', 'x'.repeat(1024 * 1024)] } }),
    }),
    bad('a 1 MB entrypointStr word', INVALID_ARGUMENT, /^containerInfo\.entrypointStr: argument 1 is 1048576 bytes/, {
      containerInfo: busybox({ entrypointStr: `echo ${'y'.repeat(1024 * 1024)}` }),
    }),
    bad('a command line of 8 × 100 KiB', INVALID_ARGUMENT, /^containerInfo\.process: the command line adds up to \d+ bytes, over the 524288-byte limit/, {
      containerInfo: busybox({ process: { entrypoint: ['echo'], command: Array.from({ length: 8 }, () => 'z'.repeat(100 * 1024)) } }),
    }),
    bad('a command argument with NUL', INVALID_ARGUMENT, /^containerInfo\.process\.entrypoint\.0: argument 0 contains NUL/, {
      containerInfo: busybox({ process: { entrypoint: ['ec\0ho'] } }),
    }),
    bad('oomScoreAdj 2147483647', INVALID_ARGUMENT, /^containerInfo\.oomScoreAdj: must be between -1000 and 1000/, { containerInfo: busybox({ oomScoreAdj: 2147483647 }) }),
    bad('oomScoreAdj -5000', INVALID_ARGUMENT, /^containerInfo\.oomScoreAdj: must be between -1000 and 1000/, { containerInfo: busybox({ oomScoreAdj: -5000 }) }),
    // Values copied into container labels.
    bad('a 1 MB appName', INVALID_ARGUMENT, /^containerInfo\.appName: must be at most 4096 bytes \(it is copied into a container label\)/, {
      containerInfo: busybox({ appName: 'a'.repeat(1024 * 1024) }),
    }),
    bad('a 5000-byte IAM profile', INVALID_ARGUMENT, /^containerInfo\.iamProfile: must be at most 4096 bytes/, { containerInfo: busybox({ iamProfile: `arn:aws:iam::1:role/${'r'.repeat(5000)}` }) }),
    bad('a 5000-byte owner email attribute', INVALID_ARGUMENT, /^containerInfo\.passthroughAttributes\.titus\.agent\.ownerEmail: must be at most 4096 bytes/, {
      containerInfo: busybox({ passthroughAttributes: { 'titus.agent.ownerEmail': `${'o'.repeat(5000)}@example.com` } }),
    }),
    // Runtime limits: at most 365 days, by the field or the passthrough attribute.
    bad('runtime limit of 366 days', INVALID_ARGUMENT, /^runtimeLimitSeconds: must be at most 31536000 seconds \(365 days\)/, { containerInfo: busybox(), runtimeLimitSeconds: 366 * 86_400 }),
    bad('runtime limit of 4294967295 s (a wrapped -1)', INVALID_ARGUMENT, /^runtimeLimitSeconds: must be at most 31536000 seconds/, { containerInfo: busybox(), runtimeLimitSeconds: 4_294_967_295 }),
    bad('runtime limit attribute of 366 days', INVALID_ARGUMENT, new RegExp(`^containerInfo\\.passthroughAttributes\\.${RUNTIME_LIMIT_ATTRIBUTE.replaceAll('.', '\\.')}: must be at most 31536000 seconds`), {
      containerInfo: busybox({ passthroughAttributes: { [RUNTIME_LIMIT_ATTRIBUTE]: String(366 * 86_400) } }),
    }),
    // The environment.
    bad("env name with '='", INVALID_ARGUMENT, /^containerInfo\.userProvidedEnv\."A=B": the name contains '='/, { containerInfo: busybox({ userProvidedEnv: { 'A=B': 'x' } }) }),
    bad('empty env name', INVALID_ARGUMENT, /^containerInfo\.userProvidedEnv\."": the name is empty/, { containerInfo: busybox({ userProvidedEnv: { '': 'x' } }) }),
    bad('env name with NUL', INVALID_ARGUMENT, /^containerInfo\.titusProvidedEnv\."A\\u0000B": the name contains NUL/, { containerInfo: busybox({ titusProvidedEnv: { 'A\0B': 'x' } }) }),
    bad('env value with NUL', INVALID_ARGUMENT, /^containerInfo\.userProvidedEnv\.NULVAL: the value contains NUL/, { containerInfo: busybox({ userProvidedEnv: { NULVAL: 'a\0b' } }) }),
    bad('one huge env value (200 KiB)', INVALID_ARGUMENT, /^containerInfo\.userProvidedEnv\.BIG: NAME=value is 204804 bytes, over the 131071-byte limit/, {
      containerInfo: busybox({ userProvidedEnv: { BIG: 'x'.repeat(200 * 1024) } }),
    }),
    bad('huge env in total (10 × 120 KiB)', INVALID_ARGUMENT, /^containerInfo\.userProvidedEnv: the environment adds up to more than 1048576 bytes/, {
      containerInfo: busybox({ userProvidedEnv: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`V${i}`, 'x'.repeat(120 * 1024)])) }),
    }),
    bad("legacy env list name with '='", INVALID_ARGUMENT, /^containerInfo\.environmentVariable\.0\.name: the name contains '='/, {
      containerInfo: busybox({ environmentVariable: [{ name: 'X=1', value: 'y' }] }),
    }),
    // Resources.
    bad('negative CPU', INVALID_ARGUMENT, /^resources\.cpu: must not be negative/, { containerInfo: busybox(), resources: { cpu: -1 } }),
    bad('NaN CPU', INVALID_ARGUMENT, /^resources\.cpu: must be a (finite )?number/, { containerInfo: busybox(), resources: { cpu: Number.NaN } }),
    bad('infinite CPU', INVALID_ARGUMENT, /^resources\.cpu: must be a (finite )?number/, { containerInfo: busybox(), resources: { cpu: Number.POSITIVE_INFINITY } }),
    bad('negative memory (wrapped to uint32)', INVALID_ARGUMENT, /^resources\.memoryMb: must be below 2\^31/, { containerInfo: busybox(), resources: { memoryMb: -5 } }),
    bad('negative GPUs (wrapped to uint32)', INVALID_ARGUMENT, /^resources\.gpus: must be below 2\^31/, { containerInfo: busybox(), resources: { gpus: -1 } }),
    bad('memory under Docker’s minimum', INVALID_ARGUMENT, /^resources\.memoryMb: must be at least 6 MiB/, { containerInfo: busybox(), resources: { memoryMb: 3 } }),
    bad('negative numGpus in ContainerInfo', INVALID_ARGUMENT, /^containerInfo\.numGpus: must be below 2\^31/, { containerInfo: busybox({ numGpus: -2 }) }),
    bad('more CPUs than the host has', INVALID_ARGUMENT, /^resources\.cpu: 64 CPUs is more than this host has \(4 CPUs for tasks\)/, { containerInfo: busybox(), resources: { cpu: 64 } }),
    bad('more memory than the host has', INVALID_ARGUMENT, /^resources\.memoryMb: 16384 MiB is more than this host has \(8192 MiB/, { containerInfo: busybox(), resources: { memoryMb: 16384 } }),
    bad('more disk than the host has', INVALID_ARGUMENT, /^resources\.diskMb: 200000 MiB is more than this host has/, { containerInfo: busybox(), resources: { diskMb: 200_000 } }),
    bad('more bandwidth than the host has', INVALID_ARGUMENT, /^resources\.networkMbps: 5000 Mbps is more than this host has/, { containerInfo: busybox(), resources: { networkMbps: 5000 } }),
    bad('shm larger than memory', INVALID_ARGUMENT, /^containerInfo\.shmSizeMB: 1024 MiB exceeds the task's memory \(512 MiB\)/, { containerInfo: busybox({ shmSizeMB: 1024 }), resources: { memoryMb: 512 } }),
    // Capabilities.
    bad('capability number agent.proto does not name', INVALID_ARGUMENT, /^containerInfo\.capabilities\.add\.0: 99 is not a Linux capability/, {
      containerInfo: busybox({ capabilities: { add: [99 as unknown as 'CHOWN'] } }),
    }),
    bad('200,000 capabilities', INVALID_ARGUMENT, /^containerInfo\.capabilities\.add: must have at most 64 entries \(there are 41 Linux capabilities\)/, {
      containerInfo: busybox({ capabilities: { add: Array.from({ length: 200_000 }, () => 'CHOWN' as const) } }),
    }),
    bad('capability newer than agent.proto (PERFMON by number)', INVALID_ARGUMENT, /^containerInfo\.capabilities\.drop\.1: 38 is not a Linux capability/, {
      containerInfo: busybox({ capabilities: { drop: ['NET_RAW', 38 as unknown as 'CHOWN'] } }),
    }),
    bad('empty label key', INVALID_ARGUMENT, /^labels\."": the key is empty/, { containerInfo: busybox(), labels: { '': 'x' } }),
    // ContainerInfo bytes.
    bad('empty ContainerInfo bytes', INVALID_ARGUMENT, /^containerInfoBytes: is empty/, { containerInfoBytes: Buffer.alloc(0) }),
    bad('oversize ContainerInfo bytes', INVALID_ARGUMENT, /^containerInfoBytes: 1048577 bytes exceeds the 1048576-byte limit/, {
      containerInfoBytes: Buffer.concat([infoBytes({ fullyQualifiedImage: 'busybox' }), Buffer.alloc(MAX_CONTAINER_INFO_BYTES + 1 - infoBytes({ fullyQualifiedImage: 'busybox' }).length)]),
    }),
    bad('random ContainerInfo bytes', INVALID_ARGUMENT, /^containerInfoBytes: not a serialized messages\.ContainerInfo/, { containerInfoBytes: Buffer.from(pseudoRandomBytes(512, 0x5eed)) }),
    bad('imageName sent as a varint', INVALID_ARGUMENT, /^containerInfoBytes: not a serialized messages\.ContainerInfo \(imageName \(field 1, string\) arrived as varint, expected length-delimited\)/, {
      containerInfoBytes: Buffer.from(writer().uint32((1 << 3) | 0).uint32(5).finish()),
    }),
    bad('an env map value sent as a varint', INVALID_ARGUMENT, /^containerInfoBytes: .*userProvidedEnv: a map value arrived as varint/, {
      containerInfoBytes: Buffer.from(sub(str(writer(), 31, 'busybox'), 24, str(writer(), 1, 'K').uint32((2 << 3) | 0).uint32(1)).finish()),
    }),
    bad('numGpus sent as a string', INVALID_ARGUMENT, /^containerInfoBytes: .*numGpus \(field 20, uint32\) arrived as length-delimited, expected varint/, {
      containerInfoBytes: Buffer.from(str(str(writer(), 31, 'busybox'), 20, 'two').finish()),
    }),
    bad('a huge env value in ContainerInfo bytes', INVALID_ARGUMENT, /^containerInfoBytes\.userProvidedEnv\.BIG: NAME=value is/, {
      containerInfoBytes: Buffer.from(infoBytes({ fullyQualifiedImage: 'busybox', userProvidedEnv: { BIG: 'y'.repeat(300 * 1024) } })),
    }),
    bad('capability 99 in ContainerInfo bytes', INVALID_ARGUMENT, /^containerInfoBytes\.capabilities\.add\.0: 99 is not a Linux capability/, {
      containerInfoBytes: Buffer.from(sub(str(writer(), 31, 'busybox'), 22, writer().uint32((1 << 3) | 0).uint32(99)).finish()),
    }),
    // Whole requests that are not a LaunchTaskRequest.
    badRaw('random bytes as the request', /^request: not a serialized titus\.executor\.v1\.LaunchTaskRequest/, () => pseudoRandomBytes(256, 0xbad)),
    badRaw('a truncated request', /^request: not a serialized titus\.executor\.v1\.LaunchTaskRequest: .*runs past the end/, (id) => rawLaunch(id).slice(0, 10)),
    badRaw('taskId sent as a varint', /^request: .*taskId \(field 1, string\) arrived as varint/, () => writer().uint32((1 << 3) | 0).uint32(7).finish()),
    badRaw('resources sent as a string', /^request: .*resources/, (id) => rawLaunch(id, (w) => str(w, 4, 'four CPUs please'))),
    badRaw('resources.cpu sent as a varint', /^request: .*resources\.cpu \(field 1, double\) arrived as varint, expected 64-bit/, (id) =>
      rawLaunch(id, (w) => sub(w, 4, writer().uint32((1 << 3) | 0).uint32(2))),
    ),
    badRaw('resources.memoryMb sent as a string', /^request: .*resources\.memoryMb \(field 2, uint32\) arrived as length-delimited/, (id) => rawLaunch(id, (w) => sub(w, 4, str(writer(), 2, '512')))),
    badRaw('containerInfo.imageName sent as a 32-bit value', /^request: .*containerInfo\.imageName \(field 1, string\) arrived as 32-bit/, (id) =>
      str(writer(), 1, id).uint32((2 << 3) | 2).bytes(writer().uint32((1 << 3) | 5).fixed32(7).finish()).finish(),
    ),
    // Room on the host: the holder task has 3 of 4 CPUs and 6144 of 8192 MiB.
    bad('more CPUs than are free', RESOURCE_EXHAUSTED, /^resources\.cpu: asked for 2 CPUs but only 1 CPUs of 4 CPUs are free/, { containerInfo: busybox(), resources: { cpu: 2 } }),
    bad('more memory than is free', RESOURCE_EXHAUSTED, /^resources\.memoryMb: asked for 4096 MiB but only 2048 MiB of 8192 MiB are free/, {
      containerInfo: busybox(),
      resources: { cpu: 1, memoryMb: 4096 },
    }),
    // Task identity.
    {
      name: 'the same task id with a different request',
      code: ALREADY_EXISTS,
      message: new RegExp(`^task ${holder} already exists with a different request`),
      send: () => launch({ taskId: holder, containerInfo: busybox({ process: { command: [...holderCommand, 'x'] } }), resources: { cpu: 3, memoryMb: 6144 } }),
    },
    { name: 'KillTask of an unknown task', code: NOT_FOUND, message: /^no task nobody-here on this host/, send: () => call(ex.client.KillTask.bind(ex.client), { taskId: 'nobody-here' }) },
    { name: 'GetTask of an unknown task', code: NOT_FOUND, message: /^no task nobody-here on this host/, send: () => call(ex.client.GetTask.bind(ex.client), { taskId: 'nobody-here' }) },
    { name: 'KillTask with a bad task id', code: INVALID_ARGUMENT, message: /^taskId: must be/, send: () => call(ex.client.KillTask.bind(ex.client), { taskId: '../etc' }) },
    // Watch keep-alives: at most a day (larger periods once overflowed Node's timers into ~900 keep-alives a second).
    { name: 'WatchTaskStatus with keepalive_seconds 2,200,000', code: INVALID_ARGUMENT, message: /^keepaliveSeconds: must be at most 86400 seconds/, send: () => watch({ keepaliveSeconds: 2_200_000 }) },
    { name: 'WatchTaskStatus with keepalive_seconds 4,294,967,295', code: INVALID_ARGUMENT, message: /^keepaliveSeconds: must be at most 86400 seconds/, send: () => watch({ keepaliveSeconds: 4_294_967_295 }) },
    { name: 'KillTask that is not a KillTaskRequest', code: INVALID_ARGUMENT, message: /^request: not a serialized titus\.executor\.v1\.KillTaskRequest/, send: () => sendRaw('KillTask', Uint8Array.from([0x0f, 0x01])) },
  ];
};

t.test('bad requests get their status code, a message naming the field, and create nothing', async (t) => {
  const holder = uniqueTaskId('holder');
  const holderRequest: LaunchTaskRequest = { taskId: holder, containerInfo: busybox({ process: { command: ['sleep', '300'] } }), resources: { cpu: 3, memoryMb: 6144 } };
  await launch(holderRequest);
  await ex.waitForState(holder, 'TASK_STATE_RUNNING');
  const again = (await launch(holderRequest)) as { task?: { taskId?: string; state?: string } };
  t.match(again.task, { taskId: holder, state: 'TASK_STATE_RUNNING' }, 'the same request again returns the existing task');

  const table = rows(holder);
  t.ok(table.length >= 30, `${table.length} rows`);
  for (const row of table) {
    const err = await row.send().then(
      () => undefined,
      (e: unknown) => e as grpc.ServiceError,
    );
    if (err === undefined) {
      t.fail(`${row.name}: accepted`);
      continue;
    }
    t.equal(err.code, row.code, `${row.name}: ${grpc.status[row.code]} (got ${grpc.status[err.code]}: ${err.details})`);
    t.match(err.details, row.message, `${row.name}: the message names the field`);
  }

  const badIds = table.flatMap((r) => (r.taskId !== undefined ? [r.taskId] : []));
  const listed = await call(ex.client.ListTasks.bind(ex.client), { includeTerminal: true });
  t.same(
    listed.tasks.map((task) => task.taskId).filter((id) => badIds.includes(id ?? '')),
    [],
    'ListTasks shows none of them',
  );
  for (const id of badIds.filter((id) => TASK_ID_RE.test(id))) {
    await t.rejects(ex.get(id), { code: NOT_FOUND }, `GetTask ${id}: NOT_FOUND`);
  }
  const { stdout } = await h.docker(['ps', '-a', '--filter', `label=${LABEL.executor}=${ex.config.executorId}`, '--format', `{{.Label "${LABEL.taskId}"}}`]);
  t.same(stdout.split('\n').filter((l) => l !== ''), [holder], 'the engine has the holder task and nothing else of this executor');
  const records = join(ex.config.stateDir, 'tasks');
  const recorded = existsSync(records) ? readdirSync(records) : [];
  t.same(recorded.filter((f) => badIds.some((id) => f.startsWith(`${id}.`))), [], 'no task record for any of them');

  t.match((await ex.kill(holder, 0)).taskId, holder);
  t.match((await ex.kill(holder, 0)).taskId, holder, 'a second KillTask is harmless');
  const end = await ex.waitForState(holder, 'terminal');
  t.equal(end.at(-1)?.state, 'TASK_STATE_KILLED');
});

t.test('afterwards a normal task still runs to FINISHED', async (t) => {
  const updates = await ex.run({ taskId: uniqueTaskId('good'), containerInfo: busybox({ process: { command: ['sh', '-c', 'echo fine'] } }) });
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', updates.at(-1)?.message ?? '');
  const host = await call(ex.client.GetHostResources.bind(ex.client), {});
  t.match(host.total, { cpu: 4, memoryMb: 8192, diskMb: 100_000, networkMbps: 1000 }, 'totals from the host config');
  t.match(host.allocated, { cpu: 0, memoryMb: 0 }, 'nothing held once every task ended');
  t.match(host.available, { cpu: 4, memoryMb: 8192 });
  const { stdout } = await h.docker(['ps', '-a', '-q', '--filter', `label=${LABEL.executor}=${ex.config.executorId}`]);
  t.equal(stdout.trim(), '', 'no container left behind');
});
