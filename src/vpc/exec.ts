import { runCommand, type CommandResult } from '../common/command-runner.js';

/**
 * Where a host tool runs: in the executor's own network namespace (netnsPath
 * undefined) or inside another one, entered with `nsenter --net=<path>`.
 * nsenter takes any namespace file (`/proc/<pid>/ns/net`, `/run/netns/<name>`),
 * so the task sandbox never needs a name under /run/netns.
 */
export interface ToolContext {
  readonly netnsPath?: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface ToolRunOptions {
  readonly input?: string;
  readonly allowFailure?: boolean;
}

export const netnsPathOfName = (name: string): string => `/run/netns/${name}`;

/** The executor's own namespace, or a named one standing in for the host (config.hostNetns). */
export const hostToolContext = (config: { readonly hostNetns?: string | undefined; readonly commandTimeoutMs: number }): ToolContext =>
  config.hostNetns === undefined
    ? { timeoutMs: config.commandTimeoutMs }
    : { timeoutMs: config.commandTimeoutMs, netnsPath: netnsPathOfName(config.hostNetns) };

/** The same context, entered into another namespace. */
export const inNetns = (context: ToolContext, netnsPath: string | undefined): ToolContext =>
  netnsPath === undefined
    ? { timeoutMs: context.timeoutMs, ...(context.signal === undefined ? {} : { signal: context.signal }) }
    : { ...context, netnsPath };

export const withSignal = (context: ToolContext, signal: AbortSignal | undefined): ToolContext =>
  signal === undefined ? context : { ...context, signal };

export const runTool = (
  context: ToolContext,
  argv: readonly string[],
  options: ToolRunOptions = {},
): Promise<CommandResult> => {
  const fullArgv = context.netnsPath === undefined ? argv : ['nsenter', `--net=${context.netnsPath}`, '--', ...argv];
  return runCommand(fullArgv, {
    timeoutMs: context.timeoutMs,
    ...(context.signal === undefined ? {} : { signal: context.signal }),
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.allowFailure === undefined ? {} : { allowFailure: options.allowFailure }),
  });
};

/** Parses a tool's JSON output, naming the tool when it is not JSON. */
export const parseJsonOutput = (argv: readonly string[], stdout: string): unknown => {
  const text = stdout.trim();
  if (text === '') return [];
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${argv.join(' ')} printed output that is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
};
