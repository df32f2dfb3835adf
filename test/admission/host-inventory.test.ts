/**
 * Host inventory against this machine's own /proc, /sys and filesystems, and
 * against a small sysfs-shaped fixture for the NIC rules.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseMemTotalMb, readCpuCount, readMemoryMb } from '../../src/host/cpu-and-memory.js';
import { diskUsage } from '../../src/host/disks.js';
import { bandwidthMbps, listNics, parseDefaultRouteInterfaces, type Nic } from '../../src/host/nics.js';
import { HostInventory } from '../../src/host/host-inventory.js';
import { hostConfigSchema } from '../../src/host/host-config.js';

const tempDir = (t: { teardown(fn: () => unknown): void }): string => {
  const dir = mkdtempSync(join(os.tmpdir(), 'host-inv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('memory: MemTotal from /proc/meminfo, the same number the kernel gives sysinfo', async (t) => {
  t.equal(parseMemTotalMb('MemFree:   10 kB\nMemTotal:       24683656 kB\n'), 24105);
  t.equal(parseMemTotalMb('MemFree: 10 kB\n'), undefined, 'no MemTotal line');
  const mb = readMemoryMb();
  t.equal(mb, Math.floor(os.totalmem() / 1024 / 1024), `${mb} MiB on this machine`);
  t.equal(readMemoryMb('/nonexistent/meminfo'), Math.floor(os.totalmem() / 1024 / 1024), 'falls back to sysinfo without /proc');
});

t.test('CPUs: every online CPU of the machine', async (t) => {
  const online = Number(execFileSync('getconf', ['_NPROCESSORS_ONLN'], { encoding: 'utf8' }).trim());
  t.equal(readCpuCount(), online);
});

t.test('disk: statfs agrees with df, and a path not created yet is measured on its parent', async (t) => {
  const dir = tempDir(t);
  const usage = diskUsage(dir);
  if (usage === undefined) throw new Error('no usage for an existing dir');
  // df -P -k: 1024-byte blocks, so the comparison is not at the mercy of df's rounding to MiB.
  const [, total, , available] = (execFileSync('df', ['-P', '-k', dir], { encoding: 'utf8' }).trim().split('\n')[1] ?? '').split(/\s+/);
  t.ok(Math.abs(usage.totalMb - Math.floor(Number(total) / 1024)) <= 1, `total ${usage.totalMb} MiB, df says ${total} KiB`);
  // Free space moves while tests run next to this one; a few hundred MiB is "the same".
  t.ok(Math.abs(usage.availableMb - Math.floor(Number(available) / 1024)) <= 512, `available ${usage.availableMb} MiB, df says ${available} KiB`);
  t.equal(usage.device, statSync(dir).dev);
  const later = diskUsage(join(dir, 'not', 'yet'));
  t.equal(later?.path, join(dir, 'not', 'yet'), 'reported under the path asked about');
  t.equal(later?.device, usage.device, 'on the filesystem of its nearest existing parent');
});

t.test('NICs of this machine: device-backed or default-route ones, with what /sys says of their speed', async (t) => {
  const nics = listNics();
  const sys = '/sys/class/net';
  const routed = parseDefaultRouteInterfaces(existsSync('/proc/net/route') ? readFileSync('/proc/net/route', 'utf8') : '');
  t.notOk(nics.some((n) => n.name === 'lo'), 'no loopback');
  for (const nic of nics) {
    t.ok(existsSync(join(sys, nic.name, 'device')) || routed.has(nic.name), `${nic.name} is a real or routed NIC`);
    let speed = 0;
    try {
      speed = Math.max(0, Number(readFileSync(join(sys, nic.name, 'speed'), 'utf8').trim()) || 0);
    } catch {
      speed = 0; // EINVAL: the driver does not know
    }
    t.equal(nic.speedMbps, speed, `${nic.name} speed`);
    t.same(nic.addresses, (os.networkInterfaces()[nic.name] ?? []).map((a) => a.cidr ?? a.address), `${nic.name} addresses`);
    t.equal(nic.defaultRoute, routed.has(nic.name));
  }
  for (const name of routed) t.ok(nics.some((n) => n.name === name && n.defaultRoute), `the default-route NIC ${name} is listed`);
  const devices = readdirSync(sys).filter((n) => existsSync(join(sys, n, 'device')));
  t.same(nics.map((n) => n.name).filter((n) => devices.includes(n)), [...devices].sort(), 'every device-backed NIC');
});

t.test('NIC rules on a sysfs-shaped fixture: veths, bridges and speeds the driver does not know', async (t) => {
  const dir = tempDir(t);
  const net = join(dir, 'net');
  const nic = (name: string, speed: string | undefined, device: boolean): void => {
    mkdirSync(join(net, name), { recursive: true });
    if (speed !== undefined) writeFileSync(join(net, name, 'speed'), `${speed}\n`);
    if (device) symlinkSync(dir, join(net, name, 'device'));
  };
  nic('eth0', '10000', true);
  nic('eth1', '25000', true);
  nic('ens5', '-1', true);
  nic('veth123', '10000', false);
  nic('docker0', undefined, false);
  nic('wg0', undefined, false);
  const route = join(dir, 'route');
  writeFileSync(
    route,
    'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' +
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
      'wg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n' +
      'eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n',
  );
  const nics = listNics({ sysClassNet: net, procNetRoute: route });
  t.same(
    nics.map((n) => [n.name, n.speedMbps, n.defaultRoute]),
    [
      ['ens5', 0, false],
      ['eth0', 10000, true],
      ['eth1', 25000, false],
      ['wg0', 0, true],
    ],
    'veth and bridge left out; a routed tunnel kept; -1 is unknown',
  );
  t.equal(bandwidthMbps(nics), 10000, 'the default-route NIC, not the fastest');
  t.same(listNics({ sysClassNet: join(dir, 'missing'), procNetRoute: route }), [], 'no sysfs, no NICs');
});

t.test('bandwidth: default route first, else the fastest, else unknown (0)', async (t) => {
  const n = (name: string, speedMbps: number, defaultRoute: boolean): Nic => ({ name, speedMbps, addresses: [], defaultRoute });
  t.equal(bandwidthMbps([n('a', 1000, true), n('b', 25000, false)]), 1000);
  t.equal(bandwidthMbps([n('a', 0, true), n('b', 25000, false)]), 25000, 'the routed NIC does not say: the fastest one');
  t.equal(bandwidthMbps([n('a', 0, true)]), 0);
  t.equal(bandwidthMbps([]), 0);
});

t.test('inventory: detected values less reservations, config values as given', async (t) => {
  const dir = tempDir(t);
  const detected = new HostInventory(hostConfigSchema.parse({ reservedCpu: 0.5, reservedMemoryMb: 1024, reservedDiskMb: 100, engineDataRoot: join(dir, 'no-engine') }), dir).capacity();
  t.equal(detected.totals.cpu, readCpuCount() - 0.5);
  t.equal(detected.totals.memoryMb, readMemoryMb() - 1024);
  const stateDisk = diskUsage(dir);
  t.equal(detected.totals.diskMb, (stateDisk?.totalMb ?? 0) - 100, 'disk of the state directory when the engine data root is not here');
  t.same(detected.disks.map((d) => d.path), [dir], 'a data root that does not exist is not reported');
  t.equal(detected.totals.networkMbps, bandwidthMbps(listNics()));

  mkdirSync(join(dir, 'engine'));
  const given = new HostInventory(
    hostConfigSchema.parse({ cpu: 3, memoryMb: 2048, diskMb: 5000, networkMbps: 0, reservedCpu: 1, reservedMemoryMb: 1024, engineDataRoot: join(dir, 'engine') }),
    join(dir, 'state'),
  ).capacity();
  t.same(given.totals, { cpu: 3, memoryMb: 2048, diskMb: 5000, networkMbps: 0 }, 'set values are not reduced by reservations');
  t.same(given.disks.map((d) => d.path), [join(dir, 'state'), join(dir, 'engine')], 'state directory and engine data root');

  const greedy = new HostInventory(hostConfigSchema.parse({ reservedCpu: 4096, reservedMemoryMb: 1 << 30 }), dir).capacity();
  t.same([greedy.totals.cpu, greedy.totals.memoryMb], [0, 0], 'a reservation beyond the machine leaves nothing, never less');
});

t.test('inventory: read again after its cache expires, not on every launch', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000;
  const config = hostConfigSchema.parse({ engineDataRoot: join(dir, 'engine') });
  const inventory = new HostInventory(config, dir, () => now);
  const first = inventory.capacity();
  mkdirSync(join(dir, 'engine'));
  t.equal(inventory.capacity(), first, 'cached');
  now += 5000;
  t.same(inventory.capacity().disks.map((d) => d.path), [dir, join(dir, 'engine')], 'the new data root is seen after the cache expires');
});
