import { isAbsolute, join } from 'node:path';
import type { ExecutorConfig } from '../config/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { packageRoot } from '../common/package-root.js';
import { hasHookInConfig, putHookInConfig } from '../gpu/oci-hooks-config.js';
import type { ContainerRuntime, RuntimeRegistry } from '../runtime/container-runtime.js';
import type { ContainerSpec } from '../runtime/container-spec.js';
import { LABEL } from '../runtime/labels.js';
import { isRuntimeError } from '../runtime/runtime-errors.js';
import { buildSandboxSpec, SandboxManager, type RunningSandbox, type SandboxRuntime } from './sandbox.js';
import { SandboxPool } from './sandbox-pool.js';
import { PooledSandboxPart } from './pooled-sandbox-part.js';

/** The config slice the pool reads. */
export type SandboxPoolPartConfig = Pick<ExecutorConfig, 'sandboxPool' | 'network' | 'gpu' | 'docker' | 'executorId'>;

/** After a take, the refill waits this long: the launch that took one creates and starts its container meanwhile. */
const REFILL_DELAY_MS = 250;
/** While the engine is not reachable at start, it is asked again this often. */
const ENGINE_RETRY_MS = 5000;

export const defaultHostnameHookPath = (): string => join(packageRoot(), 'hooks', 'task-hostname');

export interface SandboxPoolParts {
  readonly pool: SandboxPool;
  readonly part: PooledSandboxPart;
  /** The runtime pooled tasks must run under (it runs the hostname hook). */
  readonly runtime: string;
}

/**
 * The warm pool and its task part, or undefined (and why, logged once) where
 * pooling is off or not sound on this host: size 0; network driver aws-eni
 * (it keeps its per-task sandbox: docs/sandbox-pool.md); an engine default runtime of the operator's (a pooled
 * task would run under the hook runtime instead); the hook runtime not
 * registered with the engine; the hook not in the hook config; or the probe (a
 * container in a pooled sandbox must print its own hostname) failing. Resolves
 * at once; the hook config, the probe and the first fill run in the
 * background (after the engine answers, if it does not yet), and until the
 * probe has passed the pool hands out nothing.
 */
export const createSandboxPool = async (
  config: SandboxPoolPartConfig,
  runtime: SandboxRuntime & RuntimeRegistry,
  log: Logger,
): Promise<SandboxPoolParts | undefined> => {
  const c = config.sandboxPool;
  const plog = log.child({ component: 'sandbox-pool' });
  const off = (why: string): undefined => {
    if (c.size > 0) plog.info({ why }, 'sandbox pool off: tasks get a network namespace of their own');
    return undefined;
  };
  if (c.size === 0) return undefined;
  if (config.network.driver === 'aws-eni') return off('network driver aws-eni keeps a sandbox made per task (the ENI attach, not the namespace, is what its launch waits for)');
  if (config.docker.defaultRuntime !== undefined) return off(`docker.defaultRuntime ${config.docker.defaultRuntime} is set; pooled tasks would run under ${config.gpu.nvidiaOciRuntime}`);
  const hookRuntime = config.gpu.nvidiaOciRuntime;
  const hookPath = c.hostnameHookPath ?? defaultHostnameHookPath();
  if (!isAbsolute(hookPath)) return off(`sandboxPool.hostnameHookPath ${hookPath} is not absolute`);
  // An engine that is not up yet (the executor started first) is asked again in the background.
  let registered: string[] | undefined;
  try {
    registered = await runtime.registeredRuntimes();
  } catch (err) {
    if (!isRuntimeError(err, 'engine-unavailable')) return off(`cannot ask the engine which runtimes it has: ${errorMessage(err)}`);
  }
  const notRegistered = (names: readonly string[]): string =>
    `the hostname hook's runtime ${hookRuntime} is not registered with the engine (registered: ${names.join(', ') || 'none'})`;
  if (registered !== undefined && !registered.includes(hookRuntime)) return off(notRegistered(registered));
  const sandboxes = new SandboxManager(
    runtime,
    config.network.sandbox,
    { executorId: config.executorId, executorPid: process.pid },
    log.child({ component: 'sandbox' }),
  );
  const pool = new SandboxPool(sandboxes, { size: c.size, refillConcurrency: c.refillConcurrency, refillBackoffMs: c.refillBackoffMs, refillDelayMs: REFILL_DELAY_MS }, plog);
  const part = new PooledSandboxPart(pool, sandboxes, { runtime: hookRuntime, sandboxMemoryMb: config.network.sandbox.memoryMb, handsOut: config.network.driver === 'none' }, plog);
  // Until this has passed the pool is empty and every task takes today's path.
  const enable = async (): Promise<void> => {
    for (let attempt = 0; !pool.stopped; attempt++) {
      try {
        const names = registered ?? (await runtime.registeredRuntimes());
        if (!names.includes(hookRuntime)) {
          off(notRegistered(names));
          return;
        }
        const why = await putHook(config, hookPath);
        if (why !== undefined) {
          off(why);
          return;
        }
        await probeHostnameHook(runtime, sandboxes, config, hookRuntime);
        if (pool.stopped) return;
        plog.info({ size: c.size, runtime: hookRuntime, hook: hookPath }, 'sandbox pool on: the hostname hook gave a pooled container its own name');
        pool.start();
        return;
      } catch (err) {
        if (!isRuntimeError(err, 'engine-unavailable')) {
          plog.error({ err: errorMessage(err) }, 'sandbox pool off: a container in a pooled sandbox did not get its own hostname from the hook');
          return;
        }
        if (attempt === 0) plog.warn({ err: errorMessage(err) }, 'container engine not reachable; the sandbox pool starts once it is');
        await new Promise((r) => setTimeout(r, ENGINE_RETRY_MS).unref());
      }
    }
  };
  void enable();
  return { pool, part, runtime: hookRuntime };
};

/** The hook in the hook config (or found there when the operator manages it); why not, if it cannot be. */
const putHook = async (config: SandboxPoolPartConfig, hookPath: string): Promise<string | undefined> => {
  try {
    if (config.gpu.writeHookConfig) await putHookInConfig(config.gpu.hookConfigPath, 'poststart', { path: hookPath, timeout: 10 });
    else if (!(await hasHookInConfig(config.gpu.hookConfigPath, 'poststart', hookPath))) {
      return `gpu.writeHookConfig is off and ${config.gpu.hookConfigPath} has no poststart hook ${hookPath}`;
    }
    return undefined;
  } catch (err) {
    return `cannot put the hostname hook in ${config.gpu.hookConfigPath}: ${errorMessage(err)}`;
  }
};

const PROBE_NAME = 'titus-pool-probe';

/**
 * One container in a sandbox made as the pool makes them, under the hook
 * runtime, with a hostname file as a task gets: it must print that name, from
 * its first instruction. Proves on this host that the runtime runs the hook,
 * and runs it before the entrypoint.
 */
const probeHostnameHook = async (runtime: ContainerRuntime, sandboxes: SandboxManager, config: SandboxPoolPartConfig, hookRuntime: string): Promise<void> => {
  const suffix = Date.now().toString(36);
  const which = { name: `${PROBE_NAME}-sandbox-${suffix}`, own: { [LABEL.role]: 'pool-probe' }, hostname: 'pool-probe-sandbox' };
  const expected = `pool-probe-${suffix}`;
  let sandbox: RunningSandbox | undefined;
  let probeId: string | undefined;
  try {
    sandbox = await sandboxes.createSandbox(which, AbortSignal.timeout(60_000));
    const mount = await sandboxes.writeHostnameFile(sandbox, expected);
    const base = buildSandboxSpec({ which, image: await sandboxes.ensureImage(), identity: { executorId: config.executorId, executorPid: process.pid }, config: config.network.sandbox });
    const { hostname: _hostname, networkDisabled: _disabled, ...rest } = base;
    const spec: ContainerSpec = {
      ...rest,
      name: `${PROBE_NAME}-${suffix}`,
      entrypoint: ['/busybox', 'sh', '-c', 'echo "$(/busybox hostname) $(/busybox cat /etc/hostname)"'],
      networkMode: `container:${sandbox.id}`,
      runtime: hookRuntime,
      mounts: [mount],
    };
    probeId = await runtime.createContainer(spec);
    await runtime.startContainer(probeId);
    const exit = await runtime.waitContainer(probeId, AbortSignal.timeout(30_000));
    const output = (await runtime.containerOutput(probeId, 4096)).trim();
    if (exit.exitCode !== 0 || output !== `${expected} ${expected}`) {
      throw new Error(`expected "${expected} ${expected}", the probe printed ${JSON.stringify(output)} (exit ${exit.exitCode})`);
    }
  } finally {
    if (probeId !== undefined) await runtime.removeContainer(probeId).catch(() => undefined);
    if (sandbox !== undefined) await sandboxes.removeById(sandbox.id).catch(() => undefined);
    else await sandboxes.removeSandbox(which).catch(() => undefined);
  }
};
