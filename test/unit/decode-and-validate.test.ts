import t from 'tap';
import protobuf from 'protobufjs';
import { loadExecutorProto } from '../../src/api/proto.js';
import { parseLaunchRequest as parseLaunch, parseWatchRequest } from '../../src/api/validate.js';
import type { LaunchTaskRequest__Output } from '../../src/proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { parseConfig } from '../../src/config/config.js';
import { demuxLogs } from '../../src/runtime/docker-runtime.js';
import { PullProgressTracker } from '../../src/runtime/pull-progress.js';

const proto = loadExecutorProto();
const defaults = parseConfig({}).defaultResources;
/** Request bodies as the gRPC loader would hand them over (repeated fields may be absent here). */
const parseLaunchRequest = (req: object, d: typeof defaults, decode: (b: Uint8Array) => unknown) => parseLaunch(req as LaunchTaskRequest__Output, d, decode);

t.test('ContainerInfo decoding keeps presence, skips unknown fields, reads negative int32', async (t) => {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('org/app'); // imageName, no version field
  w.uint32((35 << 3) | 0).int32(-999); // oomScoreAdj
  w.uint32((12 << 3) | 0).bool(true); // removed field 12
  w.uint32((99 << 3) | 2).string('from the future'); // unknown field
  const info = proto.decodeContainerInfo(w.finish());
  t.equal(info.imageName, 'org/app');
  t.equal(info.version, undefined, 'absent version stays absent (the executor applies "latest")');
  t.equal(info.oomScoreAdj, -999);
  t.notOk('allocateIpAddress' in info);
  const zero = proto.decodeContainerInfo(protobuf.Writer.create().uint32((35 << 3) | 0).int32(0).finish());
  t.equal(zero.oomScoreAdj, 0, 'an explicit 0 is present');
  t.throws(() => proto.decodeContainerInfo(Buffer.from([0x0a, 0x05, 0x61])), 'a truncated message does not decode');
});

t.test('launch validation: resources fall back to ContainerInfo, then config', async (t) => {
  const spec = parseLaunchRequest(
    { taskId: 'a', container: 'containerInfo', containerInfo: { imageName: 'x', numGpus: 2, networkConfigInfo: { bandwidthLimitMbps: 300, securityGroups: [] } }, resources: { cpu: 4 } },
    defaults,
    proto.decodeContainerInfo,
  );
  t.same(spec.resources, { cpu: 4, memoryMb: defaults.memoryMb, diskMb: defaults.diskMb, networkMbps: 300, gpus: 2 });
  const own = parseLaunchRequest({ taskId: 'a', container: 'containerInfo', containerInfo: { imageName: 'x', numGpus: 2 }, resources: { gpus: 1 } }, defaults, proto.decodeContainerInfo);
  t.equal(own.resources.gpus, 1, 'the request wins');
  t.throws(() => parseLaunchRequest({ taskId: 'a', container: 'containerInfo', containerInfo: { imageName: 'x' }, resources: { cpu: Number.NaN } }, defaults, proto.decodeContainerInfo), {
    code: 'INVALID_ARGUMENT',
    message: /resources\.cpu/,
  });
  t.throws(() => parseLaunchRequest({ taskId: '', container: 'containerInfo', containerInfo: { imageName: 'x' } }, defaults, proto.decodeContainerInfo), { message: /taskId: is required/ });
  t.throws(() => parseLaunchRequest({ taskId: 'x'.repeat(129), container: 'containerInfo', containerInfo: { imageName: 'x' } }, defaults, proto.decodeContainerInfo), { message: /^taskId:/ });
  const w = parseWatchRequest({ taskIds: ['a'], afterSequence: '17', sendSnapshot: true, keepaliveSeconds: 0 });
  t.same([...w.taskIds], ['a']);
  t.equal(w.afterSequence, 17);
  t.equal(w.keepAliveSeconds, undefined);
});

t.test('config: defaults and clear errors', async (t) => {
  const c = parseConfig({});
  t.equal(c.api.socketPath, '/run/titus-executor/executor.sock');
  t.equal(c.api.socketMode, 0o660);
  t.equal(c.container.defaultKillWaitSeconds, 10);
  t.equal(c.gpu.nvidiaOciRuntime, 'oci-add-hooks');
  t.throws(() => parseConfig({ api: { socketMode: 'x' } }), { code: 'INVALID_ARGUMENT', message: /api\.socketMode/ });
  t.throws(() => parseConfig({ unknownKey: 1 }), { message: /unrecognized|unknownKey/i });
});

t.test('engine log frames and pull progress', async (t) => {
  const frame = (stream: number, text: string): Buffer => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  t.equal(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n'), frame(1, 'more')])), 'out\nerr\nmore');
  t.equal(demuxLogs(Buffer.from('tty output')), 'tty output');
  const p = new PullProgressTracker('img');
  p.apply({ status: 'Pulling fs layer', id: 'aaaaaaaaaaaa' });
  p.apply({ status: 'Downloading', id: 'aaaaaaaaaaaa', progressDetail: { current: 50, total: 100 } });
  p.apply({ status: 'Already exists', id: 'bbbbbbbbbbbb' });
  t.same(p.snapshot(), { image: 'img', currentBytes: 50, totalBytes: 100, layersDone: 1, layersTotal: 2 });
  p.apply({ status: 'Pull complete', id: 'aaaaaaaaaaaa' });
  t.equal(p.snapshot().layersDone, 2);
  t.equal(p.apply({ error: 'boom', errorDetail: { message: 'manifest unknown' } }), 'manifest unknown');
});

t.test('wire-format check: accepts valid messages, rejects torn ones', async (t) => {
  const { checkWireFormat } = await import('../../src/api/wire-check.js');
  const w = protobuf.Writer.create();
  w.uint32((31 << 3) | 2).string('r.example:5000/a/b');
  w.uint32((4 << 3) | 2).string('latest');
  w.uint32((42 << 3) | 0).uint64(1_700_000_000_123);
  w.uint32((5 << 3) | 5).fixed32(1).uint32((6 << 3) | 1).fixed64(2);
  const ok = w.finish();
  t.doesNotThrow(() => checkWireFormat(ok));
  t.throws(() => checkWireFormat(ok.subarray(0, ok.length - 1)), /runs past the end|truncated/);
  t.throws(() => checkWireFormat(Buffer.from([0x0a, 0x05, 0x61])), /runs past the end/);
  t.throws(() => checkWireFormat(Buffer.from([0x00, 0x01])), /field number 0/);
  t.throws(() => checkWireFormat(Buffer.from([0x0b])), /wire type 3/);
});
