import { createHash } from 'node:crypto';

/**
 * Every label key the executor puts on containers, in one place. The
 * `titus.executor.*` labels let state be rebuilt from the engine alone; the
 * `com.netflix.titus.*` ones keep parity with Netflix's executor for tools that
 * read them.
 */
export const LABEL = {
  executor: 'titus.executor.id',
  schema: 'titus.executor.schema',
  executorPid: 'titus.executor.pid',
  taskId: 'titus.task_id',
  role: 'titus.executor.role', // "main", "sandbox", "shared-sandbox"
  /** The key of a network namespace several tasks share (a pod's UID), on its sandbox. */
  sharedNetwork: 'titus.executor.shared_network',
  /** The task's NetworkAttachment as JSON (main container), so a restarted executor can restore it. */
  networkAttachment: 'titus.executor.network',
  /** The task's NetworkSpec as JSON (sandbox container). */
  networkSpec: 'titus.executor.network.spec',
  /** The task's IPv4 address, "for metadata proxy compatibility" as Titus labels it (both names). */
  netIpv4: 'titus.net.ipv4',
  vpcIpv4: 'titus.vpc.ipv4',
  iamRole: 'ec2.iam.role',
  cpu: 'com.netflix.titus.cpu',
  mem: 'com.netflix.titus.mem',
  disk: 'com.netflix.titus.disk',
  network: 'com.netflix.titus.network',
  appName: 'com.netflix.titus.appName',
  workloadType: 'com.netflix.titus.workload.type',
  entrypoint: 'com.netflix.titus.entrypoint',
  command: 'com.netflix.titus.command',
  ownerEmail: 'com.netflix.titus.owner.email',
  jobType: 'com.netflix.titus.job.type',
} as const;

export const LABEL_SCHEMA_VERSION = '1';

/**
 * The longest value the executor puts in a label it derives from the request
 * (the process labels). Labels travel in every list and inspect answer, so
 * large request data stays out of them: a longer value keeps its start and
 * names the whole by size and hash (the task record keeps the command itself).
 */
export const MAX_DERIVED_LABEL_BYTES = 4096;

export const boundedLabelValue = (value: string): string => {
  const bytes = Buffer.byteLength(value);
  if (bytes <= MAX_DERIVED_LABEL_BYTES) return value;
  const digest = createHash('sha256').update(value).digest('hex');
  const suffix = `… [${bytes} bytes, sha256:${digest}]`;
  // Cut by characters, then make sure the UTF-8 still fits.
  let head = value.slice(0, MAX_DERIVED_LABEL_BYTES - Buffer.byteLength(suffix));
  while (Buffer.byteLength(head) + Buffer.byteLength(suffix) > MAX_DERIVED_LABEL_BYTES) head = head.slice(0, -1);
  return `${head}${suffix}`;
};
