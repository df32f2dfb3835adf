/**
 * Mounts that an engine leaves under its temp dir when it dies uncleanly
 * (overlay rootfs, shm, network namespaces): they must go before the dir can
 * be removed, and a leaked overlay mount pins disk space until reboot.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
const unescapeMountPath = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** Mount points at or under `dir`, deepest first so children go before parents. */
export const mountsUnder = (dir: string): string[] => {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = new Set<string>();
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4]; // id parent major:minor root mount-point ...
    if (field === undefined) continue;
    const point = unescapeMountPath(field);
    if (point === dir || point.startsWith(`${dir}/`)) points.add(point);
  }
  return [...points].sort((a, b) => b.length - a.length);
};

/**
 * Lazily unmounts everything under `dir`. Synchronous so that the process
 * 'exit' hook can use it too. Returns the mount points that are still there.
 */
export const unmountUnder = (dir: string): string[] => {
  // A path can be mounted over several times; a few rounds peel off each layer.
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return [];
    for (const point of points) spawnSync('umount', ['-l', point], { stdio: 'ignore', timeout: 10_000 });
  }
  return mountsUnder(dir);
};
