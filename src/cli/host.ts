import type { Command } from 'commander';
import type { DrainState__Output } from '../proto/generated/titus/executor/v1/DrainState.js';
import type { HostResources__Output } from '../proto/generated/titus/executor/v1/HostResources.js';
import type { Resources__Output } from '../proto/generated/titus/executor/v1/Resources.js';
import { call, createClient } from './client.js';
import { isoTime, toProtoJson } from './format.js';
import type { GlobalOptions } from './options.js';

/** One line for the drain flag, as `host` and `drain` print it. */
export const formatDrain = (d: DrainState__Output | undefined): string => {
  if (d?.draining !== true) return 'accepting tasks (not draining)';
  const reason = d.reason !== undefined && d.reason !== '' ? `: ${d.reason}` : '';
  return `DRAINING since ${isoTime(d.since ?? undefined)}${reason} (new launches are refused; \`titus-executor drain off\` to undo)`;
};

const ROWS: ReadonlyArray<[keyof Resources__Output, string]> = [
  ['cpu', 'CPUs'],
  ['memoryMb', 'memory MiB'],
  ['diskMb', 'disk MiB'],
  ['networkMbps', 'network Mbps'],
  ['gpus', 'GPUs'],
];

const n = (r: Resources__Output | undefined, k: keyof Resources__Output): string => String(Number((r?.[k] ?? 0).toFixed(3)));

export const formatHost = (h: HostResources__Output): string => {
  const lines = [
    `host     ${h.hostname ?? ''}`,
    `engine   ${h.engineVersion ?? ''}`,
    `state    ${formatDrain(h.drain ?? undefined)}`,
    `tasks    ${h.runningTasks ?? 0} not ended`,
    '',
    `${'RESOURCE'.padEnd(14)} ${'TOTAL'.padStart(10)} ${'ALLOCATED'.padStart(10)} ${'AVAILABLE'.padStart(10)}`,
    ...ROWS.map(([k, label]) => `${label.padEnd(14)} ${n(h.total, k).padStart(10)} ${n(h.allocated, k).padStart(10)} ${n(h.available, k).padStart(10)}`),
    '(a total of 0 disk or network means it is not accounted)',
  ];
  const q = h.diskQuota;
  if (q != null && q.mode !== '') lines.push(`disk quota: ${q.mode}${q.confirmed ? ' (confirmed by the engine)' : ''}: ${q.reason}`);
  if ((h.disks ?? []).length > 0) {
    lines.push('', `${'DISK'.padEnd(40)} ${'TOTAL MiB'.padStart(12)} ${'FREE MiB'.padStart(12)}`);
    for (const d of h.disks ?? []) lines.push(`${(d.path ?? '').padEnd(40)} ${String(d.totalMb ?? 0).padStart(12)} ${String(d.availableMb ?? 0).padStart(12)}`);
  }
  if ((h.nics ?? []).length > 0) {
    lines.push('', `${'NIC'.padEnd(16)} ${'SPEED'.padStart(12)}  ADDRESSES`);
    for (const nic of h.nics ?? []) {
      const speed = (nic.speedMbps ?? 0) > 0 ? `${nic.speedMbps} Mbps` : 'unknown';
      lines.push(`${(nic.name ?? '').padEnd(16)} ${speed.padStart(12)}  ${(nic.addresses ?? []).join(' ')}`);
    }
  }
  for (const g of h.gpus) lines.push(`gpu ${g.index} ${g.uuid} ${g.name} ${g.taskId !== '' ? `held by ${g.taskId}` : 'free'}`);
  for (const s of h.status) lines.push(`status: ${s}`);
  return lines.join('\n');
};

export const registerHost = (program: Command, globals: () => GlobalOptions): void => {
  program
    .command('host')
    .description("show this host's resources (total, allocated, available), disks, NICs, GPUs and drain state")
    .action(async () => {
      const client = createClient(globals());
      try {
        const h = await call(client.GetHostResources.bind(client), {});
        console.log(globals().output === 'json' ? JSON.stringify(toProtoJson(h), null, 2) : formatHost(h));
      } finally {
        client.close();
      }
    });
};
