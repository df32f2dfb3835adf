import { readFileSync } from 'node:fs';
import os from 'node:os';

/** `MemTotal:  24683656 kB` from /proc/meminfo, in MiB; undefined when absent. */
export const parseMemTotalMb = (meminfo: string): number | undefined => {
  const kb = /^MemTotal:\s+(\d+)\s+kB$/m.exec(meminfo)?.[1];
  return kb === undefined ? undefined : Math.floor(Number(kb) / 1024);
};

/**
 * The machine's memory in MiB. /proc/meminfo first: it is what the kernel
 * manages (os.totalmem reads the same number through sysinfo, which is the
 * fallback when /proc is not mounted).
 */
export const readMemoryMb = (meminfoPath = '/proc/meminfo'): number => {
  try {
    const mb = parseMemTotalMb(readFileSync(meminfoPath, 'utf8'));
    if (mb !== undefined) return mb;
  } catch {
    // no /proc: fall through
  }
  return Math.floor(os.totalmem() / 1024 / 1024);
};

/**
 * Online CPUs of the machine. Not availableParallelism(): that is this
 * process's affinity mask, and task containers are not bound by it.
 */
export const readCpuCount = (): number => {
  const n = os.cpus().length;
  return n > 0 ? n : os.availableParallelism();
};
