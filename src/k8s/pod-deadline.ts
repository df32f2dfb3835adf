import type { K8sContainerStatus } from './container-status.js';

/**
 * A pod's spec.activeDeadlineSeconds, as the kubelet enforces it: once the pod
 * has been active on the node that long, its containers are stopped (with the
 * pod's grace period), none runs again, and the pod fails with reason
 * DeadlineExceeded. interLink's PodStatus carries container statuses only, so
 * the reason is on each container the deadline ended, with a non-zero exit
 * code: the virtual kubelet then reads the pod as Failed.
 */
export const DEADLINE_REASON = 'DeadlineExceeded';
/** The kubelet's message for it. */
export const DEADLINE_MESSAGE = 'Pod was active on the node longer than the specified deadline';
/** The exit code reported for a container the deadline stopped (or kept from starting): 128 + SIGKILL. */
const DEADLINE_EXIT_CODE = 137;

/** When the deadline of a pod created here at `createdAtMs` runs out; undefined: it has none. */
export const deadlineAtMs = (createdAtMs: number, activeDeadlineSeconds: number | undefined): number | undefined =>
  activeDeadlineSeconds === undefined ? undefined : createdAtMs + activeDeadlineSeconds * 1000;

/**
 * A container's status once the pod's deadline was exceeded at `exceededAtMs`:
 * one that ended before keeps its own; one still stopping reads running until
 * it has; the others (stopped by the deadline, or never started) read
 * terminated with DeadlineExceeded.
 */
export const statusAfterDeadline = (
  status: K8sContainerStatus,
  exceededAtMs: number,
  run: { readonly ended: boolean; readonly finishedAtMs?: number | undefined },
): K8sContainerStatus => {
  if (run.ended && run.finishedAtMs !== undefined && run.finishedAtMs < exceededAtMs) return status;
  if (status.state.running !== undefined) return status;
  const before = status.state.terminated;
  const at = new Date(run.finishedAtMs ?? exceededAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    ...status,
    state: {
      terminated: {
        exitCode: before !== undefined && before.exitCode !== 0 ? before.exitCode : DEADLINE_EXIT_CODE,
        reason: DEADLINE_REASON,
        message: DEADLINE_MESSAGE,
        startedAt: before?.startedAt ?? at,
        finishedAt: before?.finishedAt ?? at,
        ...(before?.containerID !== undefined ? { containerID: before.containerID } : {}),
      },
    },
    ready: false,
    started: false,
  };
};
