import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutorConfig } from '../config/config.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { LABEL } from '../runtime/labels.js';
import { isRuntimeError } from '../runtime/runtime-errors.js';
import type { TaskPart } from '../task/task-part.js';
import { OwnNamespacePart, taskFilesDir } from './own-namespace-part.js';
import { buildSandboxSpec, SandboxManager, type SandboxRuntime } from './sandbox.js';

/** The config slice the part and its probe read. */
export type OwnNamespaceConfig = Pick<ExecutorConfig, 'stateDir' | 'network' | 'executorId'>;

/** While the engine is not reachable, it is asked again this often. */
const ENGINE_RETRY_MS = 5000;
const PROBE_PREFIX = '.namespace-probe-';
const PROBE_ROLE = 'namespace-probe';

/**
 * The part, switched on once a probe has passed: a container (created, never
 * started) whose /etc/hosts is a file just written, under a random name, in
 * the state directory. The engine refuses the create when it cannot see that
 * file; tasks then keep the engine's network mode `none`, and the log and
 * GetHostResources say why. Resolves after the first attempt; while the engine
 * does not answer, it tries again in the background.
 */
export const createOwnNamespacePart = async (config: OwnNamespaceConfig, runtime: SandboxRuntime, log: Logger, first?: TaskPart): Promise<OwnNamespacePart> => {
  const plog = log.child({ component: 'own-namespace' });
  const part = new OwnNamespacePart(taskFilesDir(config.stateDir), plog, first);
  const sandboxes = new SandboxManager(runtime, config.network.sandbox, { executorId: config.executorId, executorPid: process.pid }, log.child({ component: 'sandbox' }));
  const attempt = async (): Promise<boolean> => {
    try {
      await probeEngineSeesFiles(config, runtime, sandboxes);
      part.setOn(true);
      plog.info('tasks without a network driver get their namespace from the OCI runtime (NetworkDisabled)');
      return true;
    } catch (err) {
      // Not always a mount the engine refused: the pause image may not import either.
      const why = `could not show that the engine sees files in ${config.stateDir}: ${errorMessage(err)}`;
      part.setOn(false, isRuntimeError(err, 'engine-unavailable') ? 'the engine is not reachable yet' : why);
      if (isRuntimeError(err, 'engine-unavailable')) return false;
      plog.warn({ why }, 'tasks without a network driver keep the engine\'s network mode none');
      return true;
    }
  };
  if (!(await attempt())) {
    const retry = (): void => {
      setTimeout(() => void attempt().then((done) => done || retry()), ENGINE_RETRY_MS).unref();
    };
    retry();
  }
  return part;
};

const probeEngineSeesFiles = async (config: OwnNamespaceConfig, runtime: SandboxRuntime, sandboxes: SandboxManager): Promise<void> => {
  // Left by a probe that a crash cut short.
  for (const name of await readdir(config.stateDir).catch(() => [] as string[])) {
    if (name.startsWith(PROBE_PREFIX)) await rm(join(config.stateDir, name), { recursive: true, force: true });
  }
  for (const c of await sandboxes.list(PROBE_ROLE)) await sandboxes.removeById(c.id);
  const suffix = randomUUID();
  const dir = join(config.stateDir, `${PROBE_PREFIX}${suffix}`);
  let id: string | undefined;
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, 'hosts'), 'probe\n', { mode: 0o644 });
    const which = { name: `titus-namespace-probe-${suffix.slice(0, 8)}`, own: { [LABEL.role]: PROBE_ROLE }, hostname: 'namespace-probe' };
    const image = await sandboxes.ensureImage();
    const spec = buildSandboxSpec({ which, image, identity: { executorId: config.executorId, executorPid: process.pid }, config: config.network.sandbox });
    id = await runtime.createContainer({ ...spec, mounts: [{ source: join(dir, 'hosts'), target: '/etc/hosts' }] });
  } finally {
    if (id !== undefined) await runtime.removeContainer(id).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
};
