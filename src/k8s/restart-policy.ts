import { isSucceeded, type ContainerRecord } from './container-status.js';

/** v1.PodSpec.restartPolicy; Kubernetes' default is Always. */
export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/** kubelet's crash-loop back-off, configurable (tests shorten it). */
export interface RestartBackoff {
  readonly initialSeconds: number;
  readonly maxSeconds: number;
}

/** A run at least this long was not a crash loop: the next back-off starts over (as kubelet does). */
const STABLE_RUN_MS = 10 * 60 * 1000;

/**
 * Whether a container that ended like this runs again. Init containers run
 * again only after a failure (unless Never); the others by the policy. A
 * launch the host refused (no room, a request it cannot honour) is not
 * retried: the same request would be refused again.
 */
export const shouldRestart = (policy: RestartPolicy, init: boolean, ended: ContainerRecord): boolean => {
  if (policy === 'Never' || ended.refused !== undefined) return false;
  const succeeded = isSucceeded(ended);
  if (init) return !succeeded;
  return policy === 'Always' || !succeeded;
};

/** How long after `ended` restart number `restarts` (1, 2, …) may begin: doubling from the initial, capped. */
export const backoffMs = (restarts: number, ended: ContainerRecord, backoff: RestartBackoff): number => {
  const ranMs = (ended.finishedAtMs ?? 0) - (ended.startedAtMs ?? ended.finishedAtMs ?? 0);
  const step = ranMs >= STABLE_RUN_MS ? 0 : Math.max(0, restarts - 1);
  return Math.min(backoff.initialSeconds * 2 ** Math.min(step, 30), backoff.maxSeconds) * 1000;
};
