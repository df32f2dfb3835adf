import type { GpuDevice } from './gpu-device.js';
import { byIndex } from './gpu-device.js';
import { NvidiaSmiParseError } from './nvidia-smi-parse-error.js';

/** The columns we ask for, in order. `nounits` makes memory.total a bare MiB count. */
export const GPU_QUERY_ARGS: readonly string[] = Object.freeze([
  '--query-gpu=index,uuid,name,memory.total,pci.bus_id',
  '--format=csv,noheader,nounits',
]);

const INDEX = /^\d+$/;
const MEMORY_MIB = /^\d+$/;
// nvidia-smi prints the 8-4-4-4-12 hex UUID with a `GPU-` prefix.
const GPU_UUID = /^GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// domain:bus:device.function; the domain is 8 hex digits today, 4 in old drivers.
const PCI_BUS_ID = /^(?:[0-9a-fA-F]{4}|[0-9a-fA-F]{8}):[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;

const FIELD_SEPARATOR = ', ';

const parseLine = (line: string, lineNumber: number): GpuDevice => {
  const fields = line.split(FIELD_SEPARATOR);
  const where = `nvidia-smi CSV line ${lineNumber} ("${line}")`;
  if (fields.length < 5) throw new NvidiaSmiParseError(`${where}: expected 5 fields, got ${fields.length}`);
  // A product name could contain the separator; the other four fields cannot,
  // so take them from both ends and keep the middle as the name.
  const [index, uuid] = fields;
  const pciBusId = fields[fields.length - 1];
  const memory = fields[fields.length - 2];
  const name = fields.slice(2, -2).join(FIELD_SEPARATOR).trim();
  if (index === undefined || !INDEX.test(index)) throw new NvidiaSmiParseError(`${where}: index "${index}" is not a number`);
  if (uuid === undefined || !GPU_UUID.test(uuid)) throw new NvidiaSmiParseError(`${where}: "${uuid}" is not a GPU UUID`);
  if (name === '') throw new NvidiaSmiParseError(`${where}: empty product name`);
  if (memory === undefined || !MEMORY_MIB.test(memory)) {
    throw new NvidiaSmiParseError(`${where}: memory.total "${memory}" is not a MiB count`);
  }
  if (pciBusId === undefined || !PCI_BUS_ID.test(pciBusId)) {
    throw new NvidiaSmiParseError(`${where}: "${pciBusId}" is not a PCI bus id`);
  }
  return { index: Number(index), uuid, name, memoryMiB: Number(memory), pciBusId };
};

const rejectDuplicates = (gpus: readonly GpuDevice[]): void => {
  const indexes = new Set<number>();
  const uuids = new Set<string>();
  for (const gpu of gpus) {
    if (indexes.has(gpu.index)) throw new NvidiaSmiParseError(`nvidia-smi CSV lists index ${gpu.index} twice`);
    if (uuids.has(gpu.uuid)) throw new NvidiaSmiParseError(`nvidia-smi CSV lists ${gpu.uuid} twice`);
    indexes.add(gpu.index);
    uuids.add(gpu.uuid);
  }
};

/**
 * Parses the output of `nvidia-smi` with GPU_QUERY_ARGS, strictly: every
 * non-empty line must be a GPU, or the whole output is rejected (a partial
 * inventory would hand out GPUs we misread). Sorted lowest index first.
 */
export const parseGpuQueryCsv = (stdout: string): GpuDevice[] => {
  const gpus = stdout
    .split(/\r?\n/)
    .map((line, i) => ({ line: line.trim(), lineNumber: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, lineNumber }) => parseLine(line, lineNumber));
  rejectDuplicates(gpus);
  return gpus.sort(byIndex);
};
