// Parses nvidia-smi's `--query-gpu=… --format=csv,noheader,nounits` output.
// Fixtures: gpus1/gpus8.csv stand for real hosts (A10G, 8×A100);
// real-h100.csv was captured from a real H100 host.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseGpuQueryCsv } from '../../src/gpu/nvidia-smi-csv.js';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url)), 'utf8');

t.test('real H100 output', async (t) => {
  t.same(parseGpuQueryCsv(fixture('real-h100.csv')), [
    {
      index: 0,
      uuid: 'GPU-0a59de30-b57b-0417-8d82-22cc6c754f00',
      name: 'NVIDIA H100 80GB HBM3',
      memoryMiB: 81559,
      pciBusId: '00000000:00:06.0',
    },
  ]);
});

t.test('eight GPUs, sorted by index whatever the line order', async (t) => {
  const lines = fixture('gpus8.csv').trim().split('\n').reverse().join('\n');
  const gpus = parseGpuQueryCsv(lines);
  t.same(
    gpus.map((g) => g.index),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  t.equal(gpus[7]?.pciBusId, '00000000:A0:1D.0');
});

t.test('empty output is no GPUs; blank lines and CRLF are ignored', async (t) => {
  t.same(parseGpuQueryCsv(''), []);
  t.equal(parseGpuQueryCsv(`\r\n${fixture('gpus1.csv').replace('\n', '\r\n')}\n\n`).length, 1);
});

t.test('a product name containing ", " keeps the other columns right', async (t) => {
  const [gpu] = parseGpuQueryCsv('3, GPU-5d6e8f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6, Odd, Name, 1024, 0000:07:00.0\n');
  t.equal(gpu?.name, 'Odd, Name');
  t.equal(gpu?.memoryMiB, 1024);
  t.equal(gpu?.pciBusId, '0000:07:00.0', 'old drivers print a 4-digit PCI domain');
});

t.test('malformed output is rejected, naming the line and the field', async (t) => {
  const uuid = 'GPU-5d6e8f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6';
  const cases: Array<[string, RegExp]> = [
    [fixture('malformed.csv'), /line 1 .*expected 5 fields/],
    ['index, uuid, name, memory.total [MiB], pci.bus_id\n', /line 1 .*index "index" is not a number/],
    [`0, GPU-zz, A10G, 23028, 00000000:00:1E.0\n`, /"GPU-zz" is not a GPU UUID/],
    [`0, ${uuid}, A10G, [N/A], 00000000:00:1E.0\n`, /memory.total "\[N\/A\]" is not a MiB count/],
    [`0, ${uuid}, A10G, 23028 MiB, 00000000:00:1E.0\n`, /memory.total "23028 MiB"/],
    [`0, ${uuid}, A10G, 23028, 00:1E.0\n`, /"00:1E.0" is not a PCI bus id/],
    [`0, ${uuid}, , 23028, 00000000:00:1E.0\n`, /empty product name/],
    [`0, ${uuid}, A, 1, 00000000:00:1E.0\n1, ${uuid}, A, 1, 00000000:00:1F.0\n`, /lists GPU-5d6e8f1a.* twice/],
    [`0, ${uuid}, A, 1, 00000000:00:1E.0\n0, ${uuid.replace('5d', '6d')}, A, 1, 00000000:00:1F.0\n`, /index 0 twice/],
  ];
  for (const [csv, message] of cases) {
    t.throws(() => parseGpuQueryCsv(csv), { name: 'NvidiaSmiParseError', message }, JSON.stringify(csv));
  }
});
