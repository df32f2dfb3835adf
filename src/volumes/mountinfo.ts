import { readFile } from 'node:fs/promises';

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
const unescapeMountPath = (field: string): string => field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/**
 * The mount points at or under `dir` in this process's mount namespace,
 * deepest first (children go before their parents), one entry per layer when
 * a path is mounted over more than once.
 */
export const mountPointsUnder = async (dir: string, mountinfo = '/proc/self/mountinfo'): Promise<string[]> => {
  const text = await readFile(mountinfo, 'utf8');
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4]; // id parent major:minor root mount-point ...
    if (field === undefined) continue;
    const point = unescapeMountPath(field);
    if (point === dir || point.startsWith(`${dir}/`)) points.push(point);
  }
  return points.reverse().sort((a, b) => b.length - a.length);
};
