import { writeFile } from 'node:fs/promises';
import { runTool, type ToolContext } from './exec.js';

/**
 * sysctls under /proc/sys/net are per network namespace, and the namespace is
 * the one of the process that opens the file. In the executor's own namespace
 * they are written directly; in another one (a task sandbox, a namespace
 * standing in for the host) through one `sysctl` process entered into it.
 */

/** Sets a key; 'missing' when this kernel has no such key. */
export const writeSysctl = async (context: ToolContext, key: string, value: string): Promise<'set' | 'missing'> => {
  const argv = ['sysctl', '-q', '-w', `${key}=${value}`];
  const result = await runTool(context, argv, { allowFailure: true });
  if (result.code === 0) return 'set';
  if (/cannot stat|No such file/i.test(result.stderr)) return 'missing';
  throw new Error(`${argv.join(' ')} exited with code ${result.code}: ${result.stderr.trim()}`);
};

export const readSysctl = async (context: ToolContext, key: string): Promise<string | undefined> => {
  const result = await runTool(context, ['sysctl', '-n', key], { allowFailure: true });
  return result.code === 0 ? result.stdout.trim() : undefined;
};

/** A sysctl by its path segments under /proc/sys (`['net', 'ipv4', 'conf', 'tx…', 'forwarding']`): interface names may hold dots. */
export interface SysctlSetting {
  readonly path: readonly string[];
  readonly value: string;
}

/**
 * Sets every key, in order, or throws naming the ones that failed (a missing
 * key is an error here: callers write only keys this kernel has). One process
 * at most.
 */
export const writeSysctls = async (context: ToolContext, settings: readonly SysctlSetting[]): Promise<void> => {
  if (settings.length === 0) return;
  if (context.netnsPath === undefined) {
    for (const s of settings) {
      try {
        await writeFile(`/proc/sys/${s.path.join('/')}`, s.value);
      } catch (err) {
        throw new Error(`sysctl ${s.path.join('/')}=${s.value}: ${(err as Error).message}`, { cause: err });
      }
    }
    return;
  }
  // procps' sysctl takes slash-separated keys as they are, so dotted interface names are safe.
  await runTool(context, ['sysctl', '-q', '-w', ...settings.map((s) => `${s.path.join('/')}=${s.value}`)]);
};
