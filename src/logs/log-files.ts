/**
 * The files of one task's log directory, `<stateDir>/logs/<taskId>/`:
 * `output.log` is written, `output.log.1` is the one before it, and so on up
 * to `output.log.<maxFiles-1>`; `ended` marks a task that has ended.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export const CURRENT_FILE = 'output.log';
export const ENDED_MARKER = 'ended';

export const rotatedFile = (n: number): string => `${CURRENT_FILE}.${n}`;

const LOG_FILE_RE = /^output\.log(?:\.([1-9]\d*))?$/;

/** The age of a log file name: 0 for the current one, n for `output.log.n`; undefined for other names. */
export const fileAge = (name: string): number | undefined => {
  const m = LOG_FILE_RE.exec(name);
  return m === null ? undefined : Number(m[1] ?? 0);
};

/** Names a task directory may have: one path segment, never `.` or `..` (task ids are validated before, this is the last guard). */
export const SAFE_TASK_DIR_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const logsRoot = (stateDir: string): string => join(stateDir, 'logs');

/** The task's log files, oldest first, as full paths; empty when there are none (or no directory). */
export const listLogFiles = async (dir: string): Promise<string[]> => {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, age: fileAge(name) }))
    .filter((f): f is { name: string; age: number } => f.age !== undefined)
    .sort((a, b) => b.age - a.age)
    .map((f) => join(dir, f.name));
};
