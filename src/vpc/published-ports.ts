import { ExecutorError } from '../common/errors.js';

/** A task port reachable on the host's addresses (nftables DNAT in the task's own table). */
export interface PublishedPort {
  readonly protocol: 'tcp' | 'udp';
  readonly hostPort: number;
  readonly taskPort: number;
}

const ENTRY = /^(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/;

/**
 * `hostPort:taskPort[/tcp|udp]`, comma separated (the passthrough attribute
 * `titus.executor.publishedPorts`, e.g. `8080:80,5353:53/udp`); tcp when no
 * protocol is named. Refuses anything else, ports out of 1..65535 and a host
 * port named twice, with INVALID_ARGUMENT.
 */
export const parsePublishedPorts = (raw: string | undefined): PublishedPort[] => {
  if (raw === undefined || raw.trim() === '') return [];
  const ports: PublishedPort[] = [];
  for (const entry of raw.split(',').map((e) => e.trim())) {
    const m = ENTRY.exec(entry);
    const hostPort = Number(m?.[1]);
    const taskPort = Number(m?.[2]);
    if (m === null || !validPort(hostPort) || !validPort(taskPort)) {
      throw new ExecutorError('INVALID_ARGUMENT', `published port ${JSON.stringify(entry)} is not hostPort:taskPort[/tcp|udp] with ports 1-65535`, {
        field: 'publishedPorts',
      });
    }
    const protocol = m[3] === 'udp' ? 'udp' : 'tcp';
    if (ports.some((p) => p.protocol === protocol && p.hostPort === hostPort)) {
      throw new ExecutorError('INVALID_ARGUMENT', `published port ${hostPort}/${protocol} is named twice`, { field: 'publishedPorts' });
    }
    ports.push({ protocol, hostPort, taskPort });
  }
  return ports;
};

const validPort = (port: number): boolean => Number.isInteger(port) && port >= 1 && port <= 65_535;

export const describePorts = (ports: readonly PublishedPort[]): string => ports.map((p) => `${p.hostPort}:${p.taskPort}/${p.protocol}`).join(',');
