import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of a tap test these helpers need. */
export interface TeardownScope {
  teardown(fn: () => void): void;
}

/**
 * A fresh temp dir removed when the test ends. (tap's t.testdir() returns the
 * same dir each time within one test and empties it, which is not what a test
 * with several fake hosts wants.)
 */
export const makeTempDir = (t: TeardownScope, prefix = 'titus-gpu-test-'): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};
