/**
 * Starts a real executor (gRPC on a temp unix socket) against a harness engine,
 * with a typed client, and helpers to launch a task and collect its updates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { parseConfig, type ExecutorConfig } from '../../src/config/config.js';
import { silentLogger, type Logger } from '../../src/common/log.js';
import { startExecutor, type Executor } from '../../src/executor.js';
import { createClient, call } from '../../src/cli/client.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { LaunchTaskRequest } from '../../src/proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import type { Task__Output } from '../../src/proto/generated/titus/executor/v1/Task.js';
import type { TaskStatusUpdate__Output } from '../../src/proto/generated/titus/executor/v1/TaskStatusUpdate.js';
import type { TaskPart } from '../../src/task/task-part.js';
import type { Harness } from '../harness/index.js';

export interface TestExecutor {
  readonly executor: Executor;
  readonly client: TitusExecutorClient;
  readonly socket: string;
  readonly config: ExecutorConfig;
  launch(req: LaunchTaskRequest): Promise<Task__Output>;
  kill(taskId: string, killWaitSeconds?: number): Promise<Task__Output>;
  get(taskId: string): Promise<Task__Output>;
  /** Every update of the task until (and including) its terminal one. */
  run(req: LaunchTaskRequest): Promise<TaskStatusUpdate__Output[]>;
  waitForState(taskId: string, state: string, timeoutMs?: number): Promise<TaskStatusUpdate__Output[]>;
  stop(): Promise<void>;
}

const TERMINAL = new Set(['TASK_STATE_FINISHED', 'TASK_STATE_FAILED', 'TASK_STATE_KILLED', 'TASK_STATE_LOST']);

/** A host capacity no test exhausts by accident (tests launch 1-CPU, 512 MiB, 10 GiB tasks on 2-CPU machines). */
export const GENEROUS_HOST = { cpu: 1024, memoryMb: 16 * 1024 * 1024, diskMb: 1024 * 1024 * 1024, networkMbps: 1_000_000 } as const;

let counter = 0;
export const uniqueTaskId = (prefix = 't'): string => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

export const startTestExecutor = async (
  t: { teardown(fn: () => unknown): void },
  h: Harness,
  overrides: Record<string, unknown> = {},
  parts: readonly TaskPart[] = [],
  log: Logger = silentLogger(),
): Promise<TestExecutor> => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-exec-'));
  const socket = join(dir, 'executor.sock');
  const config = parseConfig({
    executorId: `test-${h.runId}`,
    logLevel: 'silent',
    metrics: { listen: null },
    runTaskDir: join(dir, 'run-task'),
    stateDir: join(dir, 'state'),
    // No warm pool unless a test asks for one (test/parts/sandbox-pool.test.ts): others count the engine's containers.
    sandboxPool: { size: 0 },
    ...overrides,
    api: { socketPath: socket, ...((overrides['api'] as object | undefined) ?? {}) },
    docker: { host: h.dockerHost, pullAttempts: 2, pullBackoffMs: 100, ...((overrides['docker'] as object | undefined) ?? {}) },
    // Room for the many default-sized tasks tests run side by side on a small machine; admission tests set their own.
    host: { ...GENEROUS_HOST, ...((overrides['host'] as object | undefined) ?? {}) },
    // Volume mounts of its own: recovery unmounts what it finds there that is not its tasks'.
    volumes: { mountDir: join(dir, 'volumes'), ...((overrides['volumes'] as object | undefined) ?? {}) },
  });
  const executor = await startExecutor(config, log, parts);
  const client = createClient({ socket });
  const waitForState = (taskId: string, state: string, timeoutMs = 60_000): Promise<TaskStatusUpdate__Output[]> =>
    new Promise((resolve, reject) => {
      const seen: TaskStatusUpdate__Output[] = [];
      const stream = client.WatchTaskStatus({ taskIds: [taskId], afterSequence: '0', sendSnapshot: false });
      // Replay from sequence 0 is not retained forever; start from the task's own history instead.
      void call(client.GetTask.bind(client), { taskId })
        .then((task) => {
          for (const u of task.history) if (!seen.some((s) => s.sequence === u.sequence)) seen.push(u);
          check();
        })
        .catch(() => undefined);
      const timer = setTimeout(() => {
        stream.cancel();
        reject(new Error(`task ${taskId} did not reach ${state} within ${timeoutMs} ms; saw ${seen.map((u) => u.state).join(',')}`));
      }, timeoutMs);
      const check = (): void => {
        seen.sort((a, b) => Number(a.sequence) - Number(b.sequence));
        if (seen.some((u) => u.state === state || (TERMINAL.has(u.state ?? '') && state === 'terminal'))) {
          clearTimeout(timer);
          stream.cancel();
          resolve(seen);
        }
      };
      stream.on('data', (e) => {
        if (e.update && !seen.some((s) => s.sequence === e.update?.sequence)) {
          seen.push(e.update);
          check();
        }
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (err.code !== 1) reject(err);
      });
    });
  const te: TestExecutor = {
    executor,
    client,
    socket,
    config,
    launch: async (req) => (await call(client.LaunchTask.bind(client), req)).task as Task__Output,
    kill: async (taskId, killWaitSeconds) =>
      (await call(client.KillTask.bind(client), { taskId, ...(killWaitSeconds !== undefined ? { killWaitSeconds } : {}) })).task as Task__Output,
    get: (taskId) => call(client.GetTask.bind(client), { taskId }),
    run: async (req) => {
      await te.launch(req);
      return waitForState(req.taskId ?? '', 'terminal');
    },
    waitForState,
    stop: async () => {
      client.close();
      await executor.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.teardown(() => te.stop());
  return te;
};

export interface Suite {
  readonly h: Harness;
  readonly ex: TestExecutor;
  /** A subtest that ends by checking it left no container of this executor behind. */
  test(name: string, fn: (t: import('tap').Test) => Promise<void>): void;
}

/**
 * One harness engine and one executor shared by a test file's subtests,
 * started in t.before and stopped at teardown.
 */
export const executorSuite = (t: import('tap').Test, overrides: Record<string, unknown> = {}): Suite => {
  let h: Harness | undefined;
  let ex: TestExecutor | undefined;
  t.before(async () => {
    const { useHarness } = await import('../harness/index.js');
    h = await useHarness(t);
    ex = await startTestExecutor(t, h, overrides);
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the suite is not started yet (use it inside subtests)');
    return v;
  };
  return {
    get h() {
      return started(h);
    },
    get ex() {
      return started(ex);
    },
    test(name, fn) {
      t.test(name, async (st) => {
        await fn(st);
        const { containersWithLabel } = await import('../harness/index.js');
        const left = await containersWithLabel(started(h), 'titus.executor.id', started(ex).config.executorId);
        st.same(left, [], 'no container left behind');
      });
    },
  };
};
