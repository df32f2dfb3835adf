/**
 * Runs the built CLI's `run-task` as a child process (tests assume
 * `npm run build` ran, as `npm test` does) and collects its JSON lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/titus-executor.js', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/src/cli/run-task.js', import.meta.url));

export const assertBuilt = (): void => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` first`);
};

/** One stdout line: a TaskStatusUpdate in the proto JSON mapping. */
export interface UpdateLine {
  readonly taskId: string;
  readonly sequence: string;
  readonly timestamp: string;
  readonly state: string;
  readonly message: string;
  readonly reasonCode: string;
  readonly containerId?: string;
}

export interface RunTaskExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

export interface RunTaskProcess {
  readonly child: ChildProcess;
  readonly updates: UpdateLine[];
  /** Lines that were not JSON: there must be none. */
  readonly garbage: string[];
  readonly exit: Promise<RunTaskExit>;
  waitForState(state: string, timeoutMs?: number): Promise<UpdateLine>;
}

export const spawnRunTask = (args: readonly string[], env: NodeJS.ProcessEnv = {}): RunTaskProcess => {
  const child = spawn(process.execPath, [BIN, 'run-task', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const updates: UpdateLine[] = [];
  const garbage: string[] = [];
  const waiters: Array<() => void> = [];
  let stderr = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        updates.push(JSON.parse(line) as UpdateLine);
      } catch {
        garbage.push(line);
      }
    }
    for (const w of [...waiters]) w();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<RunTaskExit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  const waitForState = (state: string, timeoutMs = 60_000): Promise<UpdateLine> =>
    new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
        fn();
      };
      const fail = (why: string): void =>
        settle(() => reject(new Error(`run-task ${why} before reporting ${state}; saw ${updates.map((u) => u.state).join(',')}; stderr:\n${stderr}`)));
      const check = (): void => {
        const hit = updates.find((u) => u.state === state);
        if (hit !== undefined) settle(() => resolve(hit));
      };
      const timer = setTimeout(() => fail(`took over ${timeoutMs} ms`), timeoutMs);
      waiters.push(check);
      check();
      void exit.then(() => {
        check();
        fail('exited');
      });
    });
  return { child, updates, garbage, exit, waitForState };
};
