import { readFileSync } from 'node:fs';

/**
 * The kernel's start time of a process (clock ticks since boot, field 22 of
 * /proc/<pid>/stat), or undefined where /proc cannot tell. Together with the
 * pid it names one process for good: a pid alone can be reused after a crash.
 */
export const processStartTime = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return afterName[19]; // fields 3.. follow the name, so field 22 is at 22 - 3
  } catch {
    return undefined;
  }
};

/** Whether `pid` is running and, if a start time was recorded, is still that same process. */
export const isProcessAlive = (pid: number, startTime?: string): boolean => {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else, so it is alive.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startTime === undefined) return true;
  const current = processStartTime(pid);
  return current === undefined || current === startTime;
};
