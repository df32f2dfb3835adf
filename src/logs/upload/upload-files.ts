/**
 * What the uploader keeps in a task's log directory, `<logs.dir>/<taskId>/`:
 *
 *   files/                the task's own log directory, bind-mounted at /logs
 *   upload/target.json    where its logs go (UploadTarget); its presence means "upload this task"
 *   upload/pending/<seg>  hard links of rotated output files not uploaded yet (the rotation may
 *                         drop output.log.N; the link keeps the bytes until they are up)
 *   upload/state/<obj>    per object: the multipart upload in progress (its id, the parts done
 *                         with their ETags and where each ended in the file), or "done"
 *   upload/complete       every log of the ended task is up: the retention sweep may remove it
 */
import { existsSync } from 'node:fs';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { uploadTargetSchema, type UploadTarget } from './upload-target.js';

export const UPLOAD_DIR = 'upload';
export const TASK_FILES_DIR = 'files';

export const uploadDir = (taskDir: string): string => join(taskDir, UPLOAD_DIR);
export const pendingDir = (taskDir: string): string => join(taskDir, UPLOAD_DIR, 'pending');
export const stateDir = (taskDir: string): string => join(taskDir, UPLOAD_DIR, 'state');
export const taskFilesDir = (taskDir: string): string => join(taskDir, TASK_FILES_DIR);
const targetFile = (taskDir: string): string => join(taskDir, UPLOAD_DIR, 'target.json');
const completeFile = (taskDir: string): string => join(taskDir, UPLOAD_DIR, 'complete');

export const writeTarget = (taskDir: string, target: UploadTarget): Promise<void> =>
  writeFileAtomic(targetFile(taskDir), `${JSON.stringify(target)}\n`, 0o600, 0o750);

/**
 * The same on the launch path: written and renamed into place (an executor
 * crash cannot tear it), without waiting for the disk; `synced` flushes it and
 * its directory afterwards, off the launch path.
 */
export const writeTargetUnsynced = async (taskDir: string, target: UploadTarget): Promise<{ synced: () => Promise<void> }> => {
  const file = targetFile(taskDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(target)}\n`, { mode: 0o600 });
  await rename(temporary, file);
  return {
    synced: async () => {
      for (const path of [file, dirname(file)]) {
        const handle = await open(path, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
    },
  };
};

/** The task's target; undefined when it has none (not uploaded) or the file is unreadable. */
export const readTarget = async (taskDir: string): Promise<UploadTarget | undefined> => {
  try {
    const parsed = uploadTargetSchema.safeParse(JSON.parse(await readFile(targetFile(taskDir), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

export const hasTarget = (taskDir: string): boolean => existsSync(targetFile(taskDir));

export const markComplete = (taskDir: string): Promise<void> => writeFileAtomic(completeFile(taskDir), `${new Date().toISOString()}\n`, 0o600, 0o750);

export const isComplete = (taskDir: string): boolean => existsSync(completeFile(taskDir));

/**
 * True while the task's logs must stay on this host: it is to be uploaded and
 * not everything is up yet. The retention sweep asks this before removing.
 */
export const holdsLogs = (taskDir: string): boolean => hasTarget(taskDir) && !isComplete(taskDir);

/** A file name for an object's state: the key relative to the task's prefix, made one safe path segment. */
export const stateNameFor = (relativeKey: string): string => `${encodeURIComponent(relativeKey).replace(/\./g, '%2E')}.json`;
