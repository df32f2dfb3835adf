/**
 * Where an executor launch spends its time, from the executor's own update
 * timestamps (ms resolution) plus the bench's issue and arrival times. Both
 * processes read the same wall clock, so the cross-process spans are honest
 * to about a millisecond.
 */
import type { ArrivedUpdate } from './status-watch.js';

export const PHASES = [
  'request → ACCEPTED',
  'ACCEPTED → pulling (image check begins)',
  'image check (inspect) → creating',
  'create container',
  'start container → RUNNING',
  'RUNNING → received by client',
] as const;
export type Phase = (typeof PHASES)[number];

const at = (history: readonly ArrivedUpdate[], matches: (u: ArrivedUpdate) => boolean): ArrivedUpdate | undefined => history.find(matches);

/** The phase spans of one launch, or undefined when an update is missing (a failed launch). */
export const launchPhases = (issuedWallMs: number, history: readonly ArrivedUpdate[]): Record<Phase, number> | undefined => {
  const accepted = at(history, (u) => u.state === 'ACCEPTED');
  const pulling = at(history, (u) => u.state === 'STARTING' && u.message.startsWith('pulling image'));
  const creating = at(history, (u) => u.state === 'STARTING' && u.message === 'creating container');
  const starting = at(history, (u) => u.state === 'STARTING' && u.message === 'starting container');
  const running = at(history, (u) => u.state === 'RUNNING');
  if (!accepted || !pulling || !creating || !starting || !running) return undefined;
  return {
    'request → ACCEPTED': accepted.executorMs - issuedWallMs,
    'ACCEPTED → pulling (image check begins)': pulling.executorMs - accepted.executorMs,
    'image check (inspect) → creating': creating.executorMs - pulling.executorMs,
    'create container': starting.executorMs - creating.executorMs,
    'start container → RUNNING': running.executorMs - starting.executorMs,
    'RUNNING → received by client': running.arrivedWallMs - running.executorMs,
  };
};
