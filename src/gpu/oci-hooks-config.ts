import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import { invalidArgument } from '../common/errors.js';

/*
 * oci-add-hooks (Netflix-Skunkworks' runc wrapper, from awslabs/oci-add-hooks)
 * is registered with dockerd as a runtime, for example in daemon.json:
 *   "runtimes": { "oci-add-hooks": { "path": "/usr/bin/oci-add-hooks",
 *     "runtimeArgs": ["--hook-config-path", "/etc/titus-executor/oci-hooks.json",
 *                     "--runtime-path", "/usr/sbin/runc"] } }
 * It strips those two flags, merges the `hooks` of the hook-config file into
 * the bundle's config.json (when runc is given --bundle) and execs the runtime
 * with the remaining arguments. The file uses the OCI runtime-spec shape
 * `{"hooks":{"prestart":[{path,args,env,timeout}]}}`. Assumption, from its
 * README: the flags are exactly `--hook-config-path` and `--runtime-path`,
 * each followed by its value as a separate argument.
 */

/** One OCI runtime-spec hook (config.md, POSIX-platform hooks). */
export interface OciHook {
  readonly path: string;
  readonly args?: readonly string[];
  /** `KEY=value` entries, as the spec has them. */
  readonly env?: readonly string[];
  readonly timeout?: number;
}

export interface OciHooksConfig {
  readonly hooks: { readonly prestart: readonly OciHook[] };
}

/** The OCI runtime-spec hook stages. */
export type OciHookStage = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

/** The hooks of an existing hook-config file, by stage; none when it is missing or unreadable. */
const readHooks = async (configPath: string): Promise<Record<string, OciHook[]>> => {
  try {
    const parsed = JSON.parse(await readFile(configPath, 'utf8')) as { hooks?: unknown };
    const hooks = parsed.hooks;
    if (typeof hooks !== 'object' || hooks === null) return {};
    const out: Record<string, OciHook[]> = {};
    for (const [stage, list] of Object.entries(hooks as Record<string, unknown>)) {
      if (Array.isArray(list)) out[stage] = list.filter((h): h is OciHook => typeof (h as { path?: unknown }).path === 'string');
    }
    return out;
  } catch {
    return {};
  }
};

/**
 * Puts `hook` in the file's `stage`, replacing an entry with the same path,
 * and keeps every other hook: the file is shared (the NVIDIA prestart hook,
 * the pooled task's hostname hook), each writer owns only its own entry.
 */
export const putHookInConfig = async (configPath: string, stage: OciHookStage, hook: OciHook): Promise<void> => {
  if (!isAbsolute(hook.path)) throw invalidArgument('hookPath', `must be an absolute path, got ${JSON.stringify(hook.path)}`);
  const hooks = await readHooks(configPath);
  hooks[stage] = [...(hooks[stage] ?? []).filter((h) => h.path !== hook.path), hook];
  await writeFileAtomic(configPath, `${JSON.stringify({ hooks }, null, 2)}\n`, 0o644, 0o755);
};

/** Whether the file has a hook of that path in that stage (an operator-managed file, for instance). */
export const hasHookInConfig = async (configPath: string, stage: OciHookStage, path: string): Promise<boolean> =>
  ((await readHooks(configPath))[stage] ?? []).some((h) => h.path === path);

export interface NvidiaHookOptions {
  /** Default /usr/bin/nvidia-container-runtime-hook. */
  readonly hookPath?: string;
  /** argv, including argv[0]. Default `nvidia-container-runtime-hook prestart`. */
  readonly hookArgs?: readonly string[];
  readonly hookEnv?: Readonly<Record<string, string>>;
  /** Seconds before the runtime gives up on the hook. Default: none (the runtime's own). */
  readonly timeoutSeconds?: number;
}

export const DEFAULT_NVIDIA_HOOK_PATH = '/usr/bin/nvidia-container-runtime-hook';
export const DEFAULT_NVIDIA_HOOK_ARGS: readonly string[] = Object.freeze(['nvidia-container-runtime-hook', 'prestart']);
export const DEFAULT_OCI_HOOKS_CONFIG_PATH = '/etc/titus-executor/oci-hooks.json';

const renderEnv = (env: Readonly<Record<string, string>>): string[] =>
  Object.entries(env).map(([key, value]) => {
    if (key === '' || key.includes('=')) throw invalidArgument('hookEnv', `invalid variable name ${JSON.stringify(key)}`);
    return `${key}=${value}`;
  });

/** The hook-config file content that makes oci-add-hooks run NVIDIA's prestart hook. */
export const renderNvidiaHooksConfig = (options: NvidiaHookOptions = {}): OciHooksConfig => {
  const path = options.hookPath ?? DEFAULT_NVIDIA_HOOK_PATH;
  // The runtime spec requires an absolute hook path; runc refuses others at create time.
  if (!isAbsolute(path)) throw invalidArgument('hookPath', `must be an absolute path, got ${JSON.stringify(path)}`);
  const timeout = options.timeoutSeconds;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0)) {
    throw invalidArgument('timeoutSeconds', `must be a whole number > 0, got ${timeout}`);
  }
  const hook: OciHook = {
    path,
    args: [...(options.hookArgs ?? DEFAULT_NVIDIA_HOOK_ARGS)],
    ...(options.hookEnv === undefined ? {} : { env: renderEnv(options.hookEnv) }),
    ...(timeout === undefined ? {} : { timeout }),
  };
  return { hooks: { prestart: [hook] } };
};

export { writeFileAtomic };

/** Renders the NVIDIA hook config and writes it atomically; returns the path written. */
export const writeNvidiaHooksConfig = async (
  options: NvidiaHookOptions & { readonly configPath?: string } = {},
): Promise<string> => {
  const configPath = options.configPath ?? DEFAULT_OCI_HOOKS_CONFIG_PATH;
  // Other stages' hooks (the pooled task's hostname hook) stay; the prestart list is the NVIDIA hook's.
  const others = await readHooks(configPath);
  delete others['prestart'];
  const content = { hooks: { ...renderNvidiaHooksConfig(options).hooks, ...others } };
  // Not a secret: the OCI runtime and people debugging it read it.
  await writeFileAtomic(configPath, `${JSON.stringify(content, null, 2)}\n`, 0o644, 0o755);
  return configPath;
};

/** daemon.json `runtimeArgs` for oci-add-hooks, pointing it at the hook config and the real runtime. */
export const ociAddHooksRuntimeArgs = (hookConfigPath: string, runtimePath = 'runc'): string[] => [
  '--hook-config-path',
  hookConfigPath,
  '--runtime-path',
  runtimePath,
];
