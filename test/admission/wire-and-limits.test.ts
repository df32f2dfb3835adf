/**
 * The pieces behind the bad-request table, one by one: wire types of raw
 * ContainerInfo bytes, the capability list against agent.proto, and the env
 * limits.
 */
import t from 'tap';
import protobuf from 'protobufjs';
import { join } from 'node:path';
import { loadExecutorProto, protoDir } from '../../src/api/proto.js';
import { checkContainerInfoWireTypes } from '../../src/api/request-decoding.js';
import { LINUX_CAPABILITIES } from '../../src/task/capabilities.js';
import { MAX_ENV_ENTRY_BYTES, envProblem } from '../../src/task/env-limits.js';

const proto = loadExecutorProto();
const w = (): protobuf.Writer => protobuf.Writer.create();

t.test('well-formed ContainerInfo bytes pass, whichever way repeated scalars are sent', async (t) => {
  const info = {
    fullyQualifiedImage: 'org/app',
    userProvidedEnv: { A: '1' },
    capabilities: { add: ['NET_ADMIN', 'SYS_TIME'], drop: ['MKNOD'] },
    process: { entrypoint: ['/bin/sh'], command: ['-c', 'true'] },
    networkConfigInfo: { securityGroups: ['sg-1'], bandwidthLimitMbps: 100 },
    oomScoreAdj: -500,
    numGpus: 2,
  };
  const bytes = proto.encodeContainerInfo(info);
  t.doesNotThrow(() => checkContainerInfoWireTypes(bytes));
  // add = [NET_ADMIN (12), SYS_TIME (25)] packed: one length-delimited field, as proto3 senders write it.
  const packed = w().uint32((31 << 3) | 2).string('org/app').uint32((22 << 3) | 2).bytes(w().uint32((1 << 3) | 2).bytes(Uint8Array.from([12, 25])).finish()).finish();
  t.doesNotThrow(() => checkContainerInfoWireTypes(packed), 'packed enums');
  t.same(proto.decodeContainerInfo(packed).capabilities?.add, ['NET_ADMIN', 'SYS_TIME']);
  const unknown = w().uint32((31 << 3) | 2).string('org/app').uint32((90 << 3) | 0).uint32(1).uint32((91 << 3) | 1).fixed64(1).uint32((92 << 3) | 5).fixed32(1).uint32((93 << 3) | 2).string('x').finish();
  t.doesNotThrow(() => checkContainerInfoWireTypes(unknown), 'unknown fields of every wire type but groups');
});

t.test('a field with the wrong wire type is named with its path, nested ones too', async (t) => {
  const rows: Array<[string, Uint8Array, RegExp]> = [
    ['a string as varint', w().uint32((31 << 3) | 0).uint32(1).finish(), /^fullyQualifiedImage \(field 31, string\) arrived as varint, expected length-delimited$/],
    ['a bool as 64-bit', w().uint32((27 << 3) | 1).fixed64(1).finish(), /^allowNetworkBursting \(field 27, bool\) arrived as 64-bit, expected varint$/],
    ['a nested repeated string as varint', w().uint32((38 << 3) | 2).bytes(w().uint32((1 << 3) | 0).uint32(3).finish()).finish(), /^process\.entrypoint \(field 1, string\) arrived as varint/],
    ['a map key as varint', w().uint32((25 << 3) | 2).bytes(w().uint32((1 << 3) | 0).uint32(3).finish()).finish(), /^titusProvidedEnv: a map key arrived as varint, expected length-delimited$/],
    ['a message as 32-bit', w().uint32((22 << 3) | 5).fixed32(3).finish(), /^capabilities \(field 22, Capabilities\) arrived as 32-bit, expected length-delimited$/],
    ['a group', Uint8Array.from([(12 << 3) | 3, 1]), /^unknown field 12 at offset 0 has group start, which this executor does not accept$/],
    ['a length past the end', Uint8Array.from([(1 << 3) | 2, 9, 0x61]), /^imageName at offset 0 runs past the end of its message$/],
    ['a nested length past its message', w().uint32((38 << 3) | 2).bytes(Uint8Array.from([(1 << 3) | 2, 5, 0x61])).finish(), /^process\.entrypoint at offset \d+ runs past the end of its message$/],
  ];
  for (const [what, bytes, message] of rows) t.throws(() => checkContainerInfoWireTypes(bytes), { name: 'WireTypeError', message }, what);
});

t.test("the capability list is agent.proto's enum, by number, plus the ones it predates", async (t) => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(protoDir(), target);
  root.loadSync('netflix/titus/agent.proto');
  const values = root.lookupEnum('messages.ContainerInfo.Capabilities.Capability').values;
  for (const [name, number] of Object.entries(values)) t.equal(LINUX_CAPABILITIES[number], name, `${name} = ${number}`);
  t.same(LINUX_CAPABILITIES.slice(Object.keys(values).length), ['PERFMON', 'BPF', 'CHECKPOINT_RESTORE'], 'capability.h 38-40');
});

t.test('env limits: what execve takes, no more', async (t) => {
  t.equal(envProblem('PATH', '/bin'), undefined);
  t.equal(envProblem('bad-name', 'x'), undefined, 'not a shell name, but legal: skipped later with a warning, as Titus did');
  t.equal(envProblem('EMPTY', ''), undefined);
  t.equal(envProblem('', 'x'), 'the name is empty');
  t.equal(envProblem('A=B', 'x'), "the name contains '='");
  t.equal(envProblem('A\0', 'x'), 'the name contains NUL');
  t.equal(envProblem('A', 'x\0'), 'the value contains NUL');
  t.equal(envProblem('N'.repeat(1025), ''), 'the name is longer than 1024 bytes');
  const fits = 'v'.repeat(MAX_ENV_ENTRY_BYTES - 2); // "A=" + value is exactly the limit
  t.equal(envProblem('A', fits), undefined, 'exactly the limit');
  t.match(envProblem('A', `${fits}v`), /NAME=value is 131072 bytes, over the 131071-byte limit/);
  t.match(envProblem('A', 'é'.repeat(70_000)), /over the/, 'bytes, not characters');
});
