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
