// Parses `nvidia-smi -q -x` reports. Fixtures: gpus1/gpus8 are written from
// NVIDIA's documented format (stand-ins for an A10G and an 8×A100 host);
// real-h100.xml was captured from a real H100 host's nvidia-smi 580.159.04.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseNvidiaSmiXml } from '../../src/gpu/nvidia-smi-xml.js';
import { NvidiaSmiParseError } from '../../src/gpu/nvidia-smi-parse-error.js';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url)), 'utf8');

t.test('one GPU comes back as a one-element list, same shape as several', async (t) => {
  const report = parseNvidiaSmiXml(fixture('gpus1.xml'));
  t.equal(report.driverVersion, '535.183.01');
  t.equal(report.cudaVersion, '12.2');
  t.equal(report.attachedGpus, 1);
  t.same(report.gpus, [
    {
      pciBusId: '00000000:00:1E.0',
      name: 'NVIDIA A10G',
      uuid: 'GPU-5d6e8f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6',
      memoryMiB: 23028,
      minorNumber: 0,
    },
  ]);
});

t.test('eight GPUs', async (t) => {
  const report = parseNvidiaSmiXml(fixture('gpus8.xml'));
  t.equal(report.attachedGpus, 8);
  t.equal(report.gpus.length, 8);
  t.same(
    report.gpus.map((g) => g.minorNumber),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  t.ok(report.gpus.every((g) => g.memoryMiB === 81920 && g.name === 'NVIDIA A100-SXM4-80GB'));
});

t.test('report captured from a real H100 host', async (t) => {
  const report = parseNvidiaSmiXml(fixture('real-h100.xml'));
  t.equal(report.driverVersion, '580.159.04');
  t.equal(report.cudaVersion, '13.0', 'a version stays a string, "13.0" not 13');
  t.same(report.gpus, [
    {
      pciBusId: '00000000:00:06.0',
      name: 'NVIDIA H100 80GB HBM3',
      uuid: 'GPU-0a59de30-b57b-0417-8d82-22cc6c754f00',
      memoryMiB: 81559,
      minorNumber: 0,
    },
  ]);
});

t.test('a report with no GPUs', async (t) => {
  const xml = '<?xml version="1.0" ?>\n<nvidia_smi_log><driver_version>535.1</driver_version><attached_gpus>0</attached_gpus></nvidia_smi_log>';
  const report = parseNvidiaSmiXml(xml);
  t.same(report.gpus, []);
  t.equal(report.cudaVersion, undefined);
});

t.test('malformed reports are rejected with a clear message', async (t) => {
  t.throws(() => parseNvidiaSmiXml(fixture('malformed.xml')), { name: 'NvidiaSmiParseError', message: /not well-formed/ });
  t.throws(() => parseNvidiaSmiXml('<nvidia_smi_log><attached_gpus>1</attached_gpus></nvidia_smi_log>'), {
    message: /driver_version/,
  });
  const missingGpu = fixture('gpus1.xml').replace('<attached_gpus>1<', '<attached_gpus>2<');
  t.throws(() => parseNvidiaSmiXml(missingGpu), { message: /says 2 GPUs are attached but lists 1/ });
  const badMemory = fixture('gpus1.xml').replace('<total>23028 MiB</total>', '<total>N/A</total>');
  t.throws(() => parseNvidiaSmiXml(badMemory), NvidiaSmiParseError);
});
