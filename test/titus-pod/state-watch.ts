/**
 * Watches a runtime directory's state.json the way a control plane polls it:
 * every distinct document, each one required to parse (the file is replaced
 * atomically, never seen half-written).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PodState {
  readonly metadata: { name: string; annotations?: Record<string, string> };
  readonly status: {
    phase: string;
    reason: string;
    message: string;
    podIP?: string;
    podIPs?: Array<{ ip: string }>;
    startTime?: string;
    conditions: Array<{ type: string; status: string; reason?: string }>;
    containerStatuses: Array<{
      name: string;
      ready: boolean;
      restartCount: number;
      image: string;
      containerID?: string;
      state: {
        waiting?: { reason: string; message: string };
        running?: { startedAt: string };
        terminated?: { exitCode: number; reason: string; message: string; startedAt?: string; finishedAt: string; containerID?: string };
      };
    }>;
  };
}

export interface StateWatch {
  /** Every distinct document seen, in order. */
  readonly seen: PodState[];
  /** Texts that did not parse: there must be none. */
  readonly torn: string[];
  stop(): void;
  /** Resolves with the first document `pred` accepts. */
  until(pred: (s: PodState) => boolean, timeoutMs?: number): Promise<PodState>;
}

export const watchState = (runtimeDir: string, everyMs = 10): StateWatch => {
  const seen: PodState[] = [];
  const torn: string[] = [];
  let last = '';
  const poll = (): void => {
    let text: string;
    try {
      text = readFileSync(join(runtimeDir, 'state.json'), 'utf8');
    } catch {
      return;
    }
    if (text === last) return;
    last = text;
    try {
      seen.push(JSON.parse(text) as PodState);
    } catch {
      torn.push(text);
    }
  };
  const timer = setInterval(poll, everyMs);
  return {
    seen,
    torn,
    stop: () => {
      clearInterval(timer);
      poll();
    },
    until: (pred, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const check = setInterval(() => {
          poll();
          const hit = seen.find(pred);
          if (hit !== undefined) {
            clearInterval(check);
            resolve(hit);
          } else if (Date.now() - started > timeoutMs) {
            clearInterval(check);
            reject(new Error(`state.json never matched within ${timeoutMs} ms; saw ${seen.map((s) => `${s.status.phase}/${s.status.reason}`).join(', ')}`));
          }
        }, everyMs);
      }),
  };
};

/** `Pending/TASK_STARTING/waiting`: the pod phase, Titus state and main container state, to compare sequences. */
export const stepOf = (s: PodState): string => {
  const c = s.status.containerStatuses[0]?.state ?? {};
  return `${s.status.phase}/${s.status.reason}/${Object.keys(c)[0] ?? '-'}`;
};

/** The distinct steps, in order. */
export const stepsOf = (seen: readonly PodState[]): string[] => seen.map(stepOf).filter((s, i, all) => i === 0 || all[i - 1] !== s);
