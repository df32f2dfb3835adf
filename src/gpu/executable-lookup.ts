import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

const isExecutable = async (path: string): Promise<boolean> => {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * Where `program` would be run from: itself when it names a path, else the
 * first executable match on `searchPath` (a PATH value). Undefined if none,
 * so a missing tool is a finding rather than a spawn error.
 */
export const findExecutable = async (program: string, searchPath: string | undefined): Promise<string | undefined> => {
  if (program.includes('/')) return (await isExecutable(program)) ? program : undefined;
  for (const dir of (searchPath ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, program);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
};
