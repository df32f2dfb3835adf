import type { HostResourcesView } from '../task/task-manager.js';
import { isTerminal, type TaskView } from '../task/types.js';
import { POD_LABEL } from './pod-names.js';
import { GPU_RESOURCE } from './pod-plan.js';

/** The answer to interLink's ping (GET /status with `[]`), from which the virtual kubelet sets the node. */
export interface PingAnswer {
  readonly status: 'ok';
  readonly resources: {
    readonly cpu: string;
    readonly memory: string;
    readonly pods: string;
    readonly accelerators: ReadonlyArray<{ resourceType: string; available: string }>;
  };
  readonly taints?: ReadonlyArray<{ key: string; value: string; effect: 'NoSchedule' }>;
}

/** Set while the host drains, so the scheduler sends no new pods. */
export const DRAINING_TAINT = { key: 'titus.executor/draining', value: 'true', effect: 'NoSchedule' } as const;

/**
 * The node's capacity: the host's, less what tasks launched outside
 * Kubernetes (gRPC, run-task) hold, since the scheduler cannot see them and
 * already counts its own pods.
 */
export const pingAnswer = (host: HostResourcesView, live: readonly TaskView[], maxPods: number, draining: boolean): PingAnswer => {
  let cpu = host.total.cpu;
  let memoryMb = host.total.memoryMb;
  let gpus = host.total.gpus;
  for (const v of live) {
    if (isTerminal(v.state) || v.labels[POD_LABEL.uid] !== undefined) continue;
    cpu -= v.resources.cpu;
    memoryMb -= v.resources.memoryMb;
    gpus -= v.resources.gpus;
  }
  return {
    status: 'ok',
    resources: {
      cpu: `${Math.max(0, Math.floor(cpu * 1000))}m`,
      memory: `${Math.max(0, Math.floor(memoryMb))}Mi`,
      pods: String(maxPods),
      accelerators: [{ resourceType: GPU_RESOURCE, available: String(Math.max(0, gpus)) }],
    },
    ...(draining ? { taints: [DRAINING_TAINT] } : {}),
  };
};
