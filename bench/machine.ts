/** What the figures were measured on, for the report's header. */
import os from 'node:os';
import type Docker from 'dockerode';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly docker: string;
}

export const describeMachine = async (docker: Docker): Promise<MachineInfo> => {
  const v = await docker.version();
  const info = (await docker.info()) as { Driver?: string; CgroupVersion?: string };
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    docker: `${v.Version} (API ${v.ApiVersion}, storage ${info.Driver ?? '?'}, cgroup v${info.CgroupVersion ?? '?'})`,
  };
};

/** 1, 5 and 15 minute load averages: other work on the host shows up here, and in the spreads. */
export const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
