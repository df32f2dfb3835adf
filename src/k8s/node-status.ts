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
  /** Only while draining; read by people and tools in the node's ping-response annotation (ignored by Go). */
  readonly draining?: true;
}

/** Set while the host drains, so the scheduler sends no new pods. */
export const DRAINING_TAINT = { key: 'titus.executor/draining', value: 'true', effect: 'NoSchedule' } as const;

/**
 * How the ping says "draining". interLink's virtual kubelet (0.6.2 on) puts
 * `resources` into the node's status, which reaches the cluster, and `taints`
 * into its in-memory node spec, which its virtual-kubelet fork never pushes.
 * So the drain is a pod capacity of 0 (the scheduler places nothing more;
 * running pods stay), with the taint for a virtual kubelet that does push
 * taints, and `draining` for whoever reads the ping-response annotation
 * (0.5.1 on). After a drain (`drainEnded`), `taints: []` clears the taint
 * where it was kept; before any, taints are left alone (interLink's own
 * configured taints live in the same list).
 *
 * The node's capacity is the host's, less what tasks launched outside
 * Kubernetes (gRPC, run-task) hold, since the scheduler cannot see them and
 * already counts its own pods.
 */
export const pingAnswer = (host: HostResourcesView, live: readonly TaskView[], maxPods: number, draining: boolean, drainEnded = false): PingAnswer => {
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
      pods: draining ? '0' : String(maxPods),
      accelerators: [{ resourceType: GPU_RESOURCE, available: String(Math.max(0, gpus)) }],
    },
    ...(draining ? { taints: [DRAINING_TAINT], draining: true as const } : {}),
    ...(!draining && drainEnded ? { taints: [] } : {}),
  };
};
