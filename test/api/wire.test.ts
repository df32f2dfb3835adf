/**
 * The gRPC surface against a real engine: raw ContainerInfo bytes as the Titus
 * control plane stores them, idempotent launches, watch resumption, health,
 * reflection and the socket's permissions.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { useHarness, type Harness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId, type TestExecutor } from '../helpers/executor.js';
import type { TaskStatusEvent__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusEvent.js';

let h: Harness;
let ex: TestExecutor;

t.before(async () => {
  h = await useHarness(t);
  ex = await startTestExecutor(t, h);
});

/**
 * A ContainerInfo serialized by hand with the upstream field numbers and wire
 * types (not with our .proto), including fields we never read: legacy 12, an
 * embedded SignedAddressAllocation at 41, a negative int32 and a uint64.
 */
const upstreamBytes = (): Uint8Array => {
  const w = protobuf.Writer.create();
  const str = (field: number, v: string): void => void w.uint32((field << 3) | 2).string(v);
  const mapEntry = (field: number, k: string, v: string): void => {
    const e = protobuf.Writer.create();
    e.uint32((1 << 3) | 2).string(k).uint32((2 << 3) | 2).string(v);
    w.uint32((field << 3) | 2).bytes(e.finish());
  };
  str(31, h.images.busyboxRepo); // fullyQualifiedImage
  str(4, 'latest'); // version
  str(14, 'wireapp'); // appName
  str(17, 'arn:aws:iam::123456789012:role/WireRole'); // iamProfile
  w.uint32((12 << 3) | 0).bool(true); // legacy allocateIpAddress: skipped
  mapEntry(24, 'FROM_USER', 'u1'); // userProvidedEnv
  mapEntry(25, 'FROM_TITUS', 't1'); // titusProvidedEnv
  w.uint32((28 << 3) | 0).uint32(7); // killWaitSeconds
  // oomScoreAdj: raising it needs no privilege; a negative value (a 10-byte
  // varint) is decoded in test/unit/container-info-decode.test.ts.
  w.uint32((35 << 3) | 0).int32(500);
  const proc = protobuf.Writer.create();
  proc.uint32((1 << 3) | 2).string('/bin/sh').uint32((2 << 3) | 2).string('-c').uint32((2 << 3) | 2).string('env; cat /proc/1/oom_score_adj');
  w.uint32((38 << 3) | 2).bytes(proc.finish()); // process {entrypoint, command}
  // signedAddressAllocation (41) is refused (docs/fields.md): see the test below.
  w.uint32((42 << 3) | 0).uint64(1_700_000_000_123); // jobAcceptedTimestampMs
  return w.finish();
};

t.test('raw ContainerInfo bytes with upstream field numbers decode to the same task as the decoded message', async (t) => {
  const bytesId = uniqueTaskId('bytes');
  const objId = uniqueTaskId('obj');
  const bytes = upstreamBytes();
  const viaBytes = await ex.launch({ taskId: bytesId, containerInfoBytes: Buffer.from(bytes) });
  const info = viaBytes.containerInfo;
  t.equal(info?.fullyQualifiedImage, h.images.busyboxRepo);
  t.equal(info?.oomScoreAdj, 500);
  t.equal(info?.jobAcceptedTimestampMs, '1700000000123');
  t.same(info?.process?.command, ['-c', 'env; cat /proc/1/oom_score_adj']);
  t.same(info?.userProvidedEnv, { FROM_USER: 'u1' });
  const viaObject = await ex.launch({ taskId: objId, containerInfo: info ?? {} });
  t.same(viaObject.containerInfo, viaBytes.containerInfo, 'bytes and message give the same ContainerInfo');
  const updates = await ex.waitForState(bytesId, 'terminal');
  await ex.waitForState(objId, 'terminal');
  t.equal(updates.at(-1)?.state, 'TASK_STATE_FINISHED', updates.at(-1)?.message ?? '');
  const out = (await ex.get(bytesId)).outputTail ?? '';
  t.match(out, /^FROM_USER=u1$/m);
  t.match(out, /^FROM_TITUS=t1$/m);
  t.match(out, /^NETFLIX_APP=wireapp$/m);
  t.match(out, /^500$/m, 'oomScoreAdj from the bytes reached the container');
  const normalise = (text: string, id: string): string[] => text.split(id).join('ID').split(id.toLowerCase()).join('ID').split('\n').sort();
  t.same(normalise((await ex.get(objId)).outputTail ?? '', objId), normalise(out, bytesId), 'both ran the same container config');
});

t.test('a signedAddressAllocation (field 41, an embedded message) decodes as bytes and is refused by name, not ignored', async (t) => {
  const w = protobuf.Writer.create();
  w.uint32((31 << 3) | 2).string(h.images.busyboxRepo);
  const alloc = protobuf.Writer.create();
  alloc.uint32((1 << 3) | 2).bytes(protobuf.Writer.create().uint32((2 << 3) | 2).string('uuid-1').finish());
  w.uint32((41 << 3) | 2).bytes(alloc.finish());
  await t.rejects(ex.launch({ taskId: uniqueTaskId('alloc'), containerInfoBytes: Buffer.from(w.finish()) }), {
    code: grpc.status.INVALID_ARGUMENT,
    details: /^containerInfoBytes\.signedAddressAllocation: /,
  });
});

t.test('undecodable or oversize ContainerInfo bytes are INVALID_ARGUMENT', async (t) => {
  await t.rejects(ex.launch({ taskId: uniqueTaskId(), containerInfoBytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]) }), {
    code: grpc.status.INVALID_ARGUMENT,
    details: /containerInfoBytes/,
  });
  await t.rejects(ex.launch({ taskId: uniqueTaskId(), containerInfoBytes: Buffer.alloc(2 * 1024 * 1024, 0x0a) }), {
    code: grpc.status.INVALID_ARGUMENT,
  });
  await t.rejects(ex.launch({ taskId: uniqueTaskId() }), { code: grpc.status.INVALID_ARGUMENT, details: /containerInfo/ });
  await t.rejects(ex.launch({ taskId: 'bad id!', containerInfo: { imageName: 'x' } }), { code: grpc.status.INVALID_ARGUMENT, details: /taskId/ });
});

t.test('the same task id: same request returns the task, a different one is ALREADY_EXISTS', async (t) => {
  const taskId = uniqueTaskId('dup');
  const req = { taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '30'] } } };
  const first = await ex.launch(req);
  const second = await ex.launch(req);
  t.equal(second.taskId, first.taskId);
  t.equal(second.acceptedAt?.seconds, first.acceptedAt?.seconds);
  await t.rejects(ex.launch({ ...req, containerInfo: { ...req.containerInfo, process: { command: ['sleep', '31'] } } }), {
    code: grpc.status.ALREADY_EXISTS,
  });
  await ex.kill(taskId, 0);
  await ex.waitForState(taskId, 'terminal');
});

const collect = (filter: { afterSequence?: string; sendSnapshot?: boolean }, until: (e: TaskStatusEvent__Output[]) => boolean): Promise<TaskStatusEvent__Output[]> =>
  new Promise((resolve, reject) => {
    const events: TaskStatusEvent__Output[] = [];
    const stream = ex.client.WatchTaskStatus({ ...filter });
    stream.on('data', (e: TaskStatusEvent__Output) => {
      events.push(e);
      if (until(events)) {
        stream.cancel();
        resolve(events);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve(events) : reject(err)));
  });

t.test('the watch stream resumes from a sequence number without gaps or duplicates', async (t) => {
  const snap = await collect({ sendSnapshot: true }, (e) => e.some((x) => x.snapshotEnd));
  const start = Number(snap.find((e) => e.snapshotEnd)?.snapshotEnd?.sequence ?? '0');
  const ids = [uniqueTaskId('w'), uniqueTaskId('w'), uniqueTaskId('w')];
  const full = collect({ afterSequence: String(start) }, (e) => ids.every((id) => e.some((x) => x.update?.taskId === id && x.update.state === 'TASK_STATE_FINISHED')));
  for (const id of ids) await ex.launch({ taskId: id, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] } } });
  const all = (await full).filter((e) => e.update).map((e) => Number(e.update?.sequence));
  t.same(all, Array.from({ length: all.length }, (_, i) => start + 1 + i), 'a live stream sees every sequence number once, in order');
  // Reconnect as if the first stream broke half-way.
  const cut = all[Math.floor(all.length / 2)] ?? start;
  const resumed = await collect({ afterSequence: String(cut) }, (e) => e.filter((x) => x.update).length >= all.filter((s) => s > cut).length);
  const resumedSeqs = resumed.filter((e) => e.update).map((e) => Number(e.update?.sequence));
  t.same(resumedSeqs, all.filter((s) => s > cut), 'the resumed stream continues exactly after the cut');
});

t.test('keep-alives arrive on an idle stream', async (t) => {
  const events = await new Promise<TaskStatusEvent__Output[]>((resolve, reject) => {
    const got: TaskStatusEvent__Output[] = [];
    const stream = ex.client.WatchTaskStatus({ taskIds: ['nobody'], keepaliveSeconds: 1 });
    stream.on('data', (e: TaskStatusEvent__Output) => {
      got.push(e);
      if (e.keepAlive) {
        stream.cancel();
        resolve(got);
      }
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve(got) : reject(err)));
  });
  t.ok(events.some((e) => e.keepAlive?.timestamp), 'a keep-alive with a timestamp');
});

t.test('health and reflection answer on the socket, which is mode 0660', async (t) => {
  t.equal(statSync(ex.socket).mode & 0o777, 0o660);
  const healthPkg = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
    // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- the generic client is only called through grpc.Client
    grpc: { health: { v1: { Health: new (addr: string, c: grpc.ChannelCredentials) => grpc.Client & { Check: Function } } } };
  };
  const health = new healthPkg.grpc.health.v1.Health(`unix://${ex.socket}`, grpc.credentials.createInsecure());
  const status = await new Promise<{ status: string }>((resolve, reject) =>
    health.Check({ service: 'titus.executor.v1.TitusExecutor' }, (err: Error | null, res: { status: string }) => (err ? reject(err) : resolve(res))),
  );
  t.equal(status.status, 'SERVING');
  health.close();

  const require = createRequire(import.meta.url);
  const reflectionProto = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');
  const refPkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { keepCase: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (addr: string, c: grpc.ChannelCredentials) => grpc.Client & { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, { list_services_response?: { service: Array<{ name: string }> } }> } } } };
  };
  const refl = new refPkg.grpc.reflection.v1.ServerReflection(`unix://${ex.socket}`, grpc.credentials.createInsecure());
  const names = await new Promise<string[]>((resolve, reject) => {
    const call = refl.ServerReflectionInfo();
    call.on('data', (r) => {
      resolve((r.list_services_response?.service ?? []).map((s: { name: string }) => s.name));
      call.end();
    });
    call.on('error', reject);
    call.write({ list_services: '' });
  });
  t.ok(names.includes('titus.executor.v1.TitusExecutor'), `reflection lists the service: ${names.join(', ')}`);
  refl.close();
});
