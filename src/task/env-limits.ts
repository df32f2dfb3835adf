/**
 * Limits on a task's environment, checked at LaunchTask so a task that could
 * never start is refused up front rather than failing in the engine or at
 * exec. The kernel bounds one `NAME=value` string (MAX_ARG_STRLEN, 32 pages:
 * 128 KiB with its NUL) and all of argv and envp together (a quarter of the
 * stack rlimit: 2 MiB at the usual 8 MiB); env gets half of that, leaving the
 * rest to the command line and the variables the executor adds.
 */
export const MAX_ENV_ENTRY_BYTES = 128 * 1024 - 1;
export const MAX_ENV_TOTAL_BYTES = 1024 * 1024;
/** Longer names are no real program's; a cap keeps error messages and labels sane. */
export const MAX_ENV_NAME_BYTES = 1024;

/** `NAME=value` plus its NUL, as execve counts it. */
export const envEntryBytes = (name: string, value: string): number => Buffer.byteLength(name) + Buffer.byteLength(value) + 2;

/**
 * Why a variable cannot be passed to a process, or undefined. Names that are
 * legal for the kernel but not shell identifiers (`bad-name`) pass here: Titus'
 * executor skipped those with a warning, and so does the container builder.
 */
export const envProblem = (name: string, value: string): string | undefined => {
  if (name === '') return 'the name is empty';
  if (name.includes('=')) return "the name contains '='";
  if (name.includes('\0')) return 'the name contains NUL';
  if (Buffer.byteLength(name) > MAX_ENV_NAME_BYTES) return `the name is longer than ${MAX_ENV_NAME_BYTES} bytes`;
  if (value.includes('\0')) return 'the value contains NUL';
  const bytes = envEntryBytes(name, value);
  if (bytes > MAX_ENV_ENTRY_BYTES + 1) return `NAME=value is ${bytes - 1} bytes, over the ${MAX_ENV_ENTRY_BYTES}-byte limit for one variable`;
  return undefined;
};

/** A map key (a variable name, a label key) as it can appear in an error message's field path. */
export const mapKeyForPath = (name: string): string =>
  /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
