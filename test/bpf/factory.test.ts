import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCommand } from '../../src/common/command-runner.js';
import { isExecutorError } from '../../src/common/errors.js';
import { BPF_OBJECT_FILE, findBuildArtifact, loadTitusBpfAddon, type AddonLoad } from '../../src/native/index.js';
import { createPacketFilter, filterStatus } from '../../src/vpc/bpf/index.js';
import { countersFromStats, encodeConfig, mapWritesFor, priorityOfClassId } from '../../src/vpc/bpf/layout.js';

/** How the factory picks a path, and what happens when none works. No namespaces needed. */

const noAddon = (): AddonLoad => ({ available: false, reason: 'the native addon is not built (test stub)' });
const target = { ipv4s: ['198.18.20.2'], ipv6s: [] };
const hasCommand = async (name: string): Promise<boolean> =>
  (await runCommand(['sh', '-c', `command -v ${name}`], { allowFailure: true })).code === 0;

t.test('auto with neither the addon nor the object usable: networked tasks are refused', async (t) => {
  const filter = await createPacketFilter({ mode: 'auto', allowUnfiltered: false, objectPath: '/nonexistent/filter.o', loadAddon: noAddon });
  t.equal(filter.mode, 'unavailable');
  t.equal(filter.active, false);
  t.match(filter.status, /UNAVAILABLE.*no eBPF object at \/nonexistent\/filter\.o/);
  t.equal(filterStatus(), filter.status, 'filterStatus() reports it');
  const err = await filter.attach('tx000000000001', target).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isExecutorError(err, 'FAILED_PRECONDITION'), 'attach fails with FAILED_PRECONDITION');
  t.match(err instanceof Error ? err.message : '', /allowUnfiltered/, 'the message says how to run anyway');
  t.ok(isExecutorError(await filter.update('tx000000000001', target).catch((e: unknown) => e), 'FAILED_PRECONDITION'), 'update too');
  await filter.detach('tx000000000001'); // nothing to undo
  t.equal(await filter.inspect('tx000000000001'), undefined);
});

t.test('allowUnfiltered: a no-op filter that says so', async (t) => {
  const filter = await createPacketFilter({ mode: 'auto', allowUnfiltered: true, objectPath: '/nonexistent/filter.o', loadAddon: noAddon });
  t.equal(filter.mode, 'unfiltered');
  t.equal(filter.active, false);
  t.match(filter.status, /NOT ACTIVE, tasks run unfiltered \(packetFilter\.allowUnfiltered\): .*no eBPF object/);
  t.equal(filterStatus(), filter.status);
  await filter.attach('tx000000000001', target);
  await filter.update('tx000000000001', target);
  await filter.detach('tx000000000001');
  t.equal(await filter.inspect('tx000000000001'), undefined);
});

t.test('mode off filters nothing, whatever allowUnfiltered says', async (t) => {
  const filter = await createPacketFilter({ mode: 'off', allowUnfiltered: false });
  t.equal(filter.mode, 'unfiltered');
  t.match(filter.status, /packet filter: off/);
  await filter.attach('tx000000000001', target);
});

t.test('mode addon without the addon does not fall back to tc', async (t) => {
  const objectPath = findBuildArtifact(BPF_OBJECT_FILE);
  const filter = await createPacketFilter({ mode: 'addon', allowUnfiltered: false, loadAddon: noAddon, ...(objectPath === undefined ? {} : { objectPath }) });
  t.equal(filter.mode, 'unavailable');
  t.match(filter.status, objectPath === undefined ? /no eBPF object/ : /test stub/);
});

t.test('auto without the addon uses the tc fallback and says why', async (t) => {
  const objectPath = findBuildArtifact(BPF_OBJECT_FILE);
  if (objectPath === undefined || !(await hasCommand('bpftool'))) {
    t.plan(0, 'needs build/bpf/filter.o and bpftool');
    return;
  }
  const filter = await createPacketFilter({ mode: 'auto', allowUnfiltered: false, loadAddon: noAddon });
  t.equal(filter.mode, 'tc-fallback');
  t.match(filter.status, /tc fallback.*addon not used: the native addon is not built \(test stub\)/);
  t.equal(filterStatus(), filter.status);
});

t.test('auto with the addon and a broken object: refused, tc is not tried with the same bytes', async (t) => {
  const load = loadTitusBpfAddon();
  if (!load.available || process.getuid?.() !== 0) {
    t.plan(0, 'needs the built addon and root');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'titus-bpf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const objectPath = join(dir, 'filter.o');
  writeFileSync(objectPath, 'not an ELF object');
  const filter = await createPacketFilter({ mode: 'auto', allowUnfiltered: false, objectPath });
  t.equal(filter.mode, 'unavailable');
  t.match(filter.status, /addon: cannot open eBPF object .*BPF object format invalid/);
  t.notMatch(filter.status, /tc fallback/);
});

t.test('the addon auto-mode choice when everything is built', async (t) => {
  const load = loadTitusBpfAddon();
  if (!load.available || findBuildArtifact(BPF_OBJECT_FILE) === undefined || process.getuid?.() !== 0) {
    t.plan(0, 'needs the built addon and object, and root');
    return;
  }
  const filter = await createPacketFilter({ mode: 'auto', allowUnfiltered: false });
  t.equal(filter.mode, 'addon');
  t.match(filter.status, /native addon \(libbpf v\d+\.\d+\)/);
});

t.test('bad options and targets', async (t) => {
  await t.rejects(createPacketFilter({ mode: 'off', allowUnfiltered: false, proxyPort: 70000 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => mapWritesFor({ ipv4s: ['not-an-address'], ipv6s: [], priority: 0, metadataIpv4: '169.254.169.254', metadataIpv6: 'fd00:ec2::254', proxyPort: 80 }), {
    code: 'INVALID_ARGUMENT',
  });
  t.throws(() => mapWritesFor({ ipv4s: ['fd00::1'], ipv6s: [], priority: 0, metadataIpv4: '169.254.169.254', metadataIpv6: 'fd00:ec2::254', proxyPort: 80 }), {
    code: 'INVALID_ARGUMENT',
  });
  const many = Array.from({ length: 65 }, (_, i) => `10.0.0.${i + 1}`);
  t.throws(() => mapWritesFor({ ipv4s: many, ipv6s: [], priority: 0, metadataIpv4: '169.254.169.254', metadataIpv6: 'fd00:ec2::254', proxyPort: 80 }), {
    code: 'INVALID_ARGUMENT',
  });
});

t.test('map layout', async (t) => {
  t.equal(priorityOfClassId('1:10'), 0x00010010, "'1:10' is hex, as tc writes it");
  t.equal(priorityOfClassId('ffff:ffff'), 0xffffffff);
  t.equal(priorityOfClassId(undefined), 0);
  t.equal(priorityOfClassId(65552), 65552);
  t.throws(() => priorityOfClassId('1:'), { code: 'INVALID_ARGUMENT' });
  t.throws(() => priorityOfClassId(-1), { code: 'INVALID_ARGUMENT' });

  const config = encodeConfig({ ipv4s: [], ipv6s: [], priority: 0x10010, metadataIpv4: '169.254.169.254', metadataIpv6: 'fd00:ec2::254', proxyPort: 80 });
  t.equal(config.length, 32);
  t.equal(config.readUInt32LE(0), 1, 'CONFIGURED');
  t.equal(config.readUInt32LE(4), 0x10010, 'priority');
  t.same([...config.subarray(8, 12)], [169, 254, 169, 254], 'IPv4 in network order');
  t.equal(config.readUInt16LE(12), 80, 'proxy port in host order');
  t.equal(config.subarray(16, 32).toString('hex'), 'fd000ec2000000000000000000000254', 'IPv6 in network order');

  const writes = mapWritesFor({ ipv4s: ['198.18.20.2', '198.18.20.2'], ipv6s: ['fd00:7176::2'], priority: 0, metadataIpv4: '169.254.169.254', metadataIpv6: 'fd00:ec2::254', proxyPort: 80 });
  t.same(writes.map((w) => [w.map, w.replace, w.entries.length]), [['titus_allow4', true, 1], ['titus_allow6', true, 1], ['titus_config', false, 1]], 'addresses first, deduplicated; config last');

  const key = (i: number): Buffer => Buffer.from([i, 0, 0, 0]);
  const perCpu = (...values: number[]): Buffer => Buffer.concat(values.map((v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; }));
  const counters = countersFromStats([{ key: key(0), value: perCpu(2, 3) }, { key: key(4), value: perCpu(1, 1) }, { key: key(99), value: perCpu(5) }]);
  t.equal(counters.passed, 5, 'summed over CPUs');
  t.equal(counters.metadataDropped, 2);
  t.equal(counters.unconfigured, 0);
});

t.test('the addon loader never throws', async (t) => {
  const missing = loadTitusBpfAddon('/nonexistent/titus_bpf.node');
  t.equal(missing.available, false);
  t.match(missing.available ? '' : missing.reason, /does not load/);
  const dir = mkdtempSync(join(tmpdir(), 'titus-bpf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'fake.node');
  writeFileSync(fake, 'garbage');
  const broken = loadTitusBpfAddon(fake);
  t.equal(broken.available, false, 'a file that is no addon is reported, not thrown');
});
