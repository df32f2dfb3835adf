import { runTool, type ToolContext } from './exec.js';

/**
 * sysctl through the `sysctl` program, so the value lands in the namespace the
 * context points at (/proc/sys/net is per network namespace of the writer).
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
