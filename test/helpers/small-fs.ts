/**
 * A small filesystem of its own (tmpfs, mounted by the test: it runs as root)
 * to fill up on purpose, and a filler file that takes every free byte of it
 * until it is released. Unmounted (lazily: a killed daemon may still hold a
 * file open) at teardown.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why a test needing its own tmpfs is skipped, or false when it can run. */
export const cannotMount = (): string | false => (process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root');

export const smallTmpfs = (t: { teardown(fn: () => unknown): void }, sizeKiB: number): string => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-small-fs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir]);
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', dir]);
    } finally {
      rmdirSync(dir);
    }
  });
  return dir;
};

export const freeBytesOf = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** Takes all the free space of `dir`'s filesystem; returns the function that gives it back. */
export const fillUp = (dir: string): (() => void) => {
  const file = join(dir, `filler-${process.pid}-${Date.now()}`);
  const fd = openSync(file, 'w');
  try {
    for (const size of [256 * 1024, 4096, 512, 1]) {
      const block = Buffer.alloc(size, 0x78);
      for (;;) {
        try {
          writeSync(fd, block);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return () => rmSync(file, { force: true });
};
