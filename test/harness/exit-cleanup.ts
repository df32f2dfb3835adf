/**
 * Last-resort cleanup for a test process that dies (uncaught error,
 * process.exit, SIGINT/SIGTERM from tap's timeout) before a harness's stop()
 * ran: dockerd and the registry are not killed with their parent, so without
 * this they would outlive the test run. Everything here is synchronous because
 * an 'exit' listener cannot wait.
 */
import { rmSync } from 'node:fs';
import { detachLoopsUnder } from './loop-fs.js';
import { unmountUnder } from './mounts.js';
import { killAll, processesUsing } from './proc.js';

/** Harness dirs whose stop() has not finished. */
const live = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const cleanupSync = (dir: string): void => {
  try {
    // Twice: a process can fork between the /proc scan and the kill.
    killAll(processesUsing(dir));
    killAll(processesUsing(dir));
    unmountUnder(dir);
    detachLoopsUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort: the process is going away regardless
  }
};

const cleanupAll = (): void => {
  for (const dir of live) cleanupSync(dir);
  live.clear();
};

const onSignal = (signal: NodeJS.Signals): void => {
  cleanupAll();
  uninstall();
  // Our listener suppressed the default action; re-raise so the process still dies of the signal.
  process.kill(process.pid, signal);
};

const install = (): void => {
  process.on('exit', cleanupAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
};

/** Listeners exist only while a harness is live, so they change nothing for tests without one. */
const uninstall = (): void => {
  process.off('exit', cleanupAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
};

export const trackForExitCleanup = (dir: string): void => {
  if (live.size === 0) install();
  live.add(dir);
};

export const untrack = (dir: string): void => {
  if (!live.delete(dir)) return;
  if (live.size === 0) uninstall();
};
