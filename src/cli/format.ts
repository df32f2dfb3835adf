import type { Task__Output } from '../proto/generated/titus/executor/v1/Task.js';
import type { TaskStatusUpdate__Output } from '../proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import type { Timestamp__Output } from '../proto/generated/google/protobuf/Timestamp.js';

export const shortState = (s: string | undefined): string => (s ?? '').replace(/^TASK_STATE_/, '');

const millis = (t: Timestamp__Output | undefined): number =>
  t === undefined ? 0 : Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);

export const isoTime = (t: Timestamp__Output | undefined): string =>
  t === undefined ? '' : new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();

const isTimestamp = (v: Record<string, unknown>): boolean => {
  const keys = Object.keys(v);
  return keys.length === 2 && keys.includes('seconds') && keys.includes('nanos');
};

/**
 * The proto3 JSON mapping of a decoded message (names are already lowerCamel,
 * enums names and 64-bit values strings): Timestamps become RFC 3339 strings
 * and bytes base64, as protobuf's JSON printers do.
 */
export const toProtoJson = (value: unknown): unknown => {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toProtoJson);
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    if (isTimestamp(obj)) return isoTime(obj as unknown as Timestamp__Output);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = toProtoJson(v);
    return out;
  }
  return value;
};

export const formatUpdate = (u: TaskStatusUpdate__Output): string => {
  const exit = u.exit !== undefined && u.exit !== null ? ` [exit ${u.exit.exitCode}${u.exit.oomKilled ? ', OOM' : ''}]` : '';
  return `${isoTime(u.timestamp)}  #${u.sequence}  ${u.taskId}  ${shortState(u.state).padEnd(14)} ${(u.reasonCode ?? "").padEnd(8)} ${u.message}${exit}`;
};

export const formatTask = (t: Task__Output): string => {
  const lines = [
    `task:       ${t.taskId}`,
    `state:      ${shortState(t.state)}`,
    `image:      ${t.image}`,
    `container:  ${t.containerId || '-'}`,
    `resources:  cpu=${t.resources?.cpu ?? 0} memory=${t.resources?.memoryMb ?? 0}MiB disk=${t.resources?.diskMb ?? 0}MiB network=${t.resources?.networkMbps ?? 0}Mbps gpus=${t.resources?.gpus ?? 0}`,
    `accepted:   ${isoTime(t.acceptedAt)}`,
    `started:    ${isoTime(t.startedAt) || '-'}`,
    `finished:   ${isoTime(t.finishedAt) || '-'}`,
    `last:       ${t.lastUpdate?.message ?? ''}`,
  ];
  if (t.history.length > 0) {
    lines.push('timeline:');
    const first = millis(t.history[0]?.timestamp);
    let previous = first;
    for (const u of t.history) {
      const at = millis(u.timestamp);
      // Offset from acceptance, then the time spent since the previous step.
      const offset = `+${((at - first) / 1000).toFixed(3)}s`.padStart(10);
      const step = `(${at - previous} ms)`.padStart(11);
      lines.push(`  ${isoTime(u.timestamp)} ${offset} ${step}  ${shortState(u.state).padEnd(14)} ${u.message}`);
      previous = at;
    }
  }
  if (t.outputTail !== undefined && t.outputTail !== '') lines.push('output (tail):', indent(t.outputTail));
  return lines.join('\n');
};

export const indent = (text: string): string =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');

export const formatRow = (t: Task__Output): string =>
  `${(t.taskId ?? "").padEnd(40)} ${shortState(t.state).padEnd(14)} ${isoTime(t.acceptedAt).padEnd(25)} ${t.image}`;
