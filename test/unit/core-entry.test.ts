/**
 * The core checks a launch's ContainerInfo itself, so a door that builds the
 * LaunchSpec on its own (interLink's pod plan, run-task) cannot hand it one
 * the schema refuses.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/config.js';
import { isExecutorError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import type { ContainerRuntime } from '../../src/runtime/container-runtime.js';
import type { LaunchSpec } from '../../src/task/types.js';

/** A runtime that fails the test if the core reaches it at all. */
const untouchable = (calls: string[]): ContainerRuntime =>
  new Proxy({} as ContainerRuntime, {
    get: (_target, name) => () => {
      calls.push(String(name));
      throw new Error(`runtime.${String(name)} called`);
    },
  });

t.test('TaskManager.launch refuses a ContainerInfo the schema refuses, before anything is started', async (t) => {
  const calls: string[] = [];
  const tasks = new TaskManager({ runtime: untouchable(calls), config: parseConfig({}), log: silentLogger() });
  const spec = {
    taskId: 'core-entry-1',
    containerInfo: { imageName: 42 },
    resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
    labels: {},
  } as unknown as LaunchSpec;
  let caught: unknown;
  try {
    tasks.launch(spec);
  } catch (err) {
    caught = err;
  }
  t.ok(isExecutorError(caught), 'an ExecutorError');
  t.equal(isExecutorError(caught) ? caught.code : undefined, 'INVALID_ARGUMENT');
  t.match((caught as Error).message, /^containerInfo\.imageName: /, 'names the field');
  t.same(tasks.list({ includeTerminal: true, states: [] }), [], 'no task was made');
  t.same(calls, [], 'the runtime was not reached');
});
