import { ExecutorError } from '../common/errors.js';
import { parsePodLaunch, type PodLaunchContext } from '../task/titus-pod/parse-pod-launch.js';
import type { LaunchSpec } from '../task/types.js';
import type { LaunchTaskRequest__Output } from '../proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { undecodableReason } from './request-decoding.js';
import { wireCheckedDecoder } from './validate.js';

const hasResources = (r: LaunchTaskRequest__Output['resources']): boolean =>
  r !== undefined && r !== null && Object.values(r).some((v) => typeof v === 'number' && v !== 0);

/** LaunchTask with `pod`: the pod is the whole launch; the request adds labels at most. */
export const parsePodLaunchRequest = (req: LaunchTaskRequest__Output, ctx: PodLaunchContext): LaunchSpec => {
  const why = undecodableReason(req);
  if (why !== undefined) throw new ExecutorError('INVALID_ARGUMENT', `request: ${why}`, { field: 'request' });
  if (hasResources(req.resources)) {
    throw new ExecutorError('INVALID_ARGUMENT', "resources: must be unset with pod (the pod's container limits size the task)", { field: 'resources' });
  }
  if (req.runtimeLimitSeconds !== undefined && req.runtimeLimitSeconds > 0) {
    throw new ExecutorError('INVALID_ARGUMENT', "runtimeLimitSeconds: must be unset with pod (use the pod's spec.activeDeadlineSeconds)", { field: 'runtimeLimitSeconds' });
  }
  const decodeContainerInfo = wireCheckedDecoder(ctx.decodeContainerInfo);
  return parsePodLaunch(req.pod ?? new Uint8Array(), { ...ctx, decodeContainerInfo }, { ...(req.taskId !== undefined ? { taskId: req.taskId } : {}), labels: req.labels ?? {} }).spec;
};
