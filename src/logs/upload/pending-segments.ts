/**
 * Rotated output waiting for upload. When a task's logs are to be uploaded,
 * the rotating writer hard-links `output.log` into upload/pending/ just before
 * it renames it to `output.log.1`: the rotation may later drop that file
 * (maxFiles), but the link keeps its bytes until the uploader has sent them
 * and removes the link. No copy is made.
 */
import { existsSync, linkSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { hasTarget, pendingDir } from './upload-files.js';

const TIMESTAMP_LENGTH = '2024-05-01T12:00:00.123456789Z'.length;

/** `2026-12-03T12:27:00.123456789Z` → `20261203T122700.123456789Z`: sortable, and a safe key suffix. */
const compactTimestamp = (ts: string): string => ts.replace(/[-:]/g, '');

/** Links `file` (the output file about to be rotated) into the task's pending segments; no-op for tasks not uploaded. */
export const linkRotatedForUpload = async (taskDir: string, file: string): Promise<void> => {
  if (!hasTarget(taskDir)) return;
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined || st.size === 0) return;
  const dir = pendingDir(taskDir);
  if (pendingInode(dir, st.ino) !== undefined) return; // already linked (a crash between link and rename)
  const handle = await open(file, 'r');
  let first: string;
  try {
    const buf = Buffer.alloc(TIMESTAMP_LENGTH);
    const { bytesRead } = await handle.read(buf, 0, TIMESTAMP_LENGTH, 0);
    first = buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
  const base = /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(first) ? compactTimestamp(first) : `segment-${Date.now()}`;
  const name = existsSync(join(dir, base)) ? `${base}-${st.ino}` : base;
  linkSync(file, join(dir, name));
};

/** The pending segment that is `ino`, if any: a crash between link and rename leaves output.log linked. */
export const pendingInode = (dir: string, ino: number): string | undefined => {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  return names.find((n) => statSync(join(dir, n), { throwIfNoEntry: false })?.ino === ino);
};

/** Pending segment names, oldest first. */
export const listPending = (taskDir: string): string[] => {
  try {
    return readdirSync(pendingDir(taskDir)).sort();
  } catch {
    return [];
  }
};
