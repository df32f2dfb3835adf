import { errorMessage, isExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { InMemoryTaskDirectory } from '../metadata-proxy/task-directory.js';
import type { CredentialErrorDetail, CredentialEvents, TaskIdentityInfo } from '../metadata-proxy/types.js';
import { hostnameFor } from '../task/build-container-spec.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { LABEL } from '../runtime/labels.js';
import type { NetworkAttachment } from '../vpc/types.js';
import { attachmentFromLabels } from './network-part.js';
import type { UpdateListener } from '../task/status-bus.js';
import type { PartCapacity, PartGrant, TaskHandle, TaskPart } from '../task/task-part.js';
import { isTerminal, type LaunchSpec, type NetworkDetails, type StatusUpdate, type TaskState, type TaskView } from '../task/types.js';

/** Passthrough attribute by which a job asks for IMDSv2 only (`true`) or allows IMDSv1 (`false`). */
export const REQUIRE_TOKEN_ATTRIBUTE = 'titusParameter.agent.imds.requireToken';

/**
 * The status bus the directory listens on (TaskManager's `subscribe`). It
 * needs nothing else of the core: each task's view and a way to note on its
 * status come with acquire() (TaskHandle).
 */
export interface MetadataTaskSource {
  subscribe(listener: UpdateListener): () => void;
}

/**
 * Listeners inside tasks' own network namespaces (ENI tasks, whose traffic
 * never passes the host): opened in acquire, after the network part attached
 * the task and before its container exists, so a task whose listener cannot
 * be set up never starts; closed in release.
 */
export interface TaskNamespaceListeners {
  /** Opens the task's listeners; throws (failing the task) when its namespace is unknown or a bind fails. */
  open(taskId: string): Promise<void>;
  /** After a restart: opens them in the namespace of a task container that outlived it. */
  reopen(taskId: string, containerId: string, attachment: NetworkAttachment): Promise<void>;
  close(taskId: string): Promise<void>;
}

/** Per launched task: what has been attached and said about it. */
interface TaskRecord {
  startedAtMs?: number;
  /** A role error waiting for the task to reach RUNNING, where it can be reported. */
  pending?: string;
  /** The role error last put in the task's status. */
  reported?: string;
}

/** `true`/`false` (any case); anything else leaves it to the host's `metadataProxy.requireToken`. */
export const requireTokenOf = (view: Pick<TaskView, 'containerInfo'>): boolean | undefined => {
  const raw = view.containerInfo.passthroughAttributes?.[REQUIRE_TOKEN_ATTRIBUTE]?.trim().toLowerCase();
  return raw === 'true' ? true : raw === 'false' ? false : undefined;
};

/** The proxy's entry for a launched task, from its view and the network details of its status. */
export const identityOf = (view: TaskView, network: NetworkDetails): TaskIdentityInfo => {
  const role = view.containerInfo.iamProfile;
  const requireToken = requireTokenOf(view);
  return {
    taskId: view.taskId,
    ...(network.ipv4Address !== undefined && network.ipv4Address !== '' ? { ipv4Address: network.ipv4Address } : {}),
    ...(network.ipv6Address !== undefined && network.ipv6Address !== '' ? { ipv6Address: network.ipv6Address } : {}),
    ...(network.hostname !== undefined ? { hostname: network.hostname } : {}),
    ...(role !== undefined && role !== '' ? { iamRoleArn: role } : {}),
    image: view.image,
    acceptedAtMs: view.acceptedAtMs,
    ...(view.startedAtMs !== undefined ? { startedAtMs: view.startedAtMs } : {}),
    containerInfo: view.containerInfo,
    ...(requireToken !== undefined ? { requireToken } : {}),
  };
};

/**
 * Feeds the metadata proxy's directory from the task core, without touching
 * the network part:
 *
 * - **attach**: at the first status update carrying `network` (the `starting
 *   container` update, published synchronously before the container starts, so
 *   the task's first packet already finds its entry), and again at RUNNING to
 *   add the start time. Bus listeners run synchronously at publish.
 * - **detach**: as a task part listed right after the network part, whose
 *   release runs after the task's container is removed and *before* the network
 *   part releases the address, so an address is never handed to a new task while
 *   the proxy still answers it as the old one. The terminal update detaches too,
 *   as a backstop.
 * - **role trouble** (the proxy's credential events) goes into the task's status
 *   as a RUNNING update, `IAM role <arn> cannot be assumed: <reason>`, then `IAM
 *   credentials available again for role <arn>`; an error found while the task
 *   is still starting waits for RUNNING.
 * - **restart**: tasks whose containers outlived the executor have no TaskView
 *   (task recovery is a later issue); `recover` attaches them from their
 *   container labels (address, MAC, role) as `partial` entries until their
 *   container exits.
 */
export class TaskMetadataDirectory implements TaskPart {
  readonly name = 'metadata-proxy';
  private readonly records = new Map<string, TaskRecord>();
  /** The launched tasks, as the core handed them at acquire, until release or their end. */
  private readonly handles = new Map<string, TaskHandle>();
  /** Tasks attached by `recover`, until their container exits or the task is launched again. */
  private readonly recovered = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(
    readonly directory: InMemoryTaskDirectory,
    private readonly log: Logger,
    /** A line for GetHostResources: where the proxy listens. */
    private readonly describe: () => string = () => '',
    private readonly namespaces?: TaskNamespaceListeners,
  ) {}

  /** Starts following the task core's status updates. */
  connect(bus: MetadataTaskSource): void {
    this.unsubscribe = bus.subscribe((u) => this.onUpdate(u));
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  // ---- TaskPart: detach before the network part lets go of the address -------------

  async acquire(launch: LaunchSpec, _signal: AbortSignal, task: TaskHandle): Promise<PartGrant> {
    this.handles.set(launch.taskId, task);
    await this.namespaces?.open(launch.taskId);
    return {};
  }

  async release(taskId: string): Promise<void> {
    this.detachLaunched(taskId);
    this.handles.delete(taskId);
    await this.namespaces?.close(taskId);
  }

  capacity(): PartCapacity {
    const attached = this.directory.tasks().length;
    const where = this.describe();
    return { status: `metadata proxy: ${attached} task${attached === 1 ? '' : 's'} attached${where === '' ? '' : `, ${where}`}` };
  }

  // ---- credential events -> the task's status ----------------------------------------

  readonly events: CredentialEvents = {
    onCredentialError: (taskId, message, detail) => this.credentialError(taskId, message, detail),
    onCredentialRecovered: (taskId, detail) => this.credentialRecovered(taskId, detail.roleArn),
  };

  private credentialError(taskId: string, message: string, detail: CredentialErrorDetail | undefined): void {
    const text = detail === undefined ? message : `IAM role ${detail.roleArn} cannot be assumed: ${detail.reason}`;
    const record = this.records.get(taskId);
    if (record === undefined) {
      // A task re-derived after a restart has no status to put it in.
      this.log.warn({ taskId, stsCode: detail?.stsCode, message: text }, 'IAM role of a task cannot be assumed');
      return;
    }
    if (record.reported === text) return; // already the task's word on it
    record.pending = text;
    this.publishPending(taskId, record);
  }

  private credentialRecovered(taskId: string, roleArn: string): void {
    const record = this.records.get(taskId);
    if (record === undefined) {
      this.log.info({ taskId, roleArn }, 'IAM credentials of a task available again');
      return;
    }
    record.pending = undefined;
    if (record.reported === undefined) return; // the error never reached the status; nothing to take back
    record.reported = undefined;
    this.annotateLater(taskId, `IAM credentials available again for role ${roleArn}`, 'info');
  }

  /**
   * Reports the pending error if the task is RUNNING; otherwise it waits for
   * the RUNNING update. `state`: the update being published, which the task's
   * view shows only once its listeners have run.
   */
  private publishPending(taskId: string, record: TaskRecord, state = this.state(taskId)): void {
    if (record.pending === undefined || state !== 'RUNNING') return;
    const text = record.pending;
    record.pending = undefined;
    record.reported = text;
    this.annotateLater(taskId, text, 'warn');
  }

  /** Never inside a publish: every subscriber must see updates in sequence order. */
  private annotateLater(taskId: string, message: string, level: 'info' | 'warn'): void {
    const task = this.handles.get(taskId);
    queueMicrotask(() => {
      if (this.stopped) return;
      const published = task?.note(message) ?? false;
      this.log[level]({ taskId, inStatus: published }, message);
    });
  }

  private state(taskId: string): TaskState | undefined {
    try {
      return this.handles.get(taskId)?.view().state;
    } catch {
      return undefined;
    }
  }

  // ---- status updates -> attach / detach ---------------------------------------------

  private onUpdate(u: StatusUpdate): void {
    if (isTerminal(u.state)) {
      this.detachLaunched(u.taskId);
      return;
    }
    const task = this.handles.get(u.taskId);
    if (u.network === undefined || task === undefined) return;
    const record = this.records.get(u.taskId);
    if (record === undefined) {
      this.attach(task, u.taskId, u.network);
    } else if (u.state === 'RUNNING' && record.startedAtMs === undefined) {
      this.attach(task, u.taskId, u.network); // the same entry, now with its start time
    }
    const now = this.records.get(u.taskId);
    if (u.state === 'RUNNING' && now !== undefined) this.publishPending(u.taskId, now, u.state);
  }

  private attach(task: TaskHandle, taskId: string, network: NetworkDetails): void {
    let view: TaskView;
    try {
      view = task.view();
    } catch (err) {
      this.log.error({ taskId, err: errorMessage(err) }, 'metadata proxy: no task view at network attach; the task gets no metadata');
      return;
    }
    const info = identityOf(view, network);
    const record = this.records.get(taskId) ?? {};
    try {
      this.attachTakingOver(info);
    } catch (err) {
      // Fail closed: an unattached task gets 403 from the proxy, never another task's answers.
      this.log.error({ taskId, err: errorMessage(err) }, 'task not attached to the metadata proxy; its requests are refused');
      return;
    }
    this.recovered.delete(taskId);
    if (info.startedAtMs !== undefined) record.startedAtMs = info.startedAtMs;
    if (!this.records.has(taskId)) {
      this.records.set(taskId, record);
      this.log.info({ taskId, ipv4: info.ipv4Address, ipv6: info.ipv6Address, role: info.iamRoleArn, requireToken: info.requireToken }, 'task attached to the metadata proxy');
    }
  }

  /**
   * The network layer just leased this address to this task, so it is the
   * authority on who holds it: an entry still holding it can only be one whose
   * task ended (a recovered task whose exit was not seen yet, or one whose
   * release is in flight), and is detached. A live launched task keeps its
   * entry and the new one is refused.
   */
  private attachTakingOver(info: TaskIdentityInfo): void {
    try {
      this.directory.attachTask(info);
      return;
    } catch (err) {
      if (!isExecutorError(err, 'ALREADY_EXISTS')) throw err;
    }
    for (const address of [info.ipv4Address, info.ipv6Address]) {
      const owner = address === undefined ? undefined : this.directory.taskByAddress(address);
      if (owner === undefined || owner.taskId === info.taskId) continue;
      const ownerState = this.state(owner.taskId);
      const live = !this.recovered.has(owner.taskId) && this.records.has(owner.taskId) && ownerState !== undefined && !isTerminal(ownerState);
      if (live) throw new Error(`address ${address} is still attached to running task ${owner.taskId}`);
      this.log.warn({ taskId: info.taskId, previous: owner.taskId, address }, 'metadata proxy: address taken over from a task that ended');
      this.detach(owner.taskId);
    }
    this.directory.attachTask(info);
  }

  private detachLaunched(taskId: string): void {
    if (this.recovered.has(taskId)) return;
    this.records.delete(taskId);
    this.detach(taskId);
  }

  private detach(taskId: string): void {
    if (this.directory.taskById(taskId) === undefined) return;
    this.directory.detachTask(taskId);
    this.recovered.delete(taskId);
    this.records.delete(taskId);
    this.log.info({ taskId }, 'task detached from the metadata proxy');
  }

  // ---- restart -------------------------------------------------------------------------

  /**
   * Attaches the tasks whose containers outlived an executor restart, from
   * their labels: the network attachment (addresses, MAC), the role
   * (`ec2.iam.role`) and the app name. They are `partial` (no signed identity),
   * use the host's `requireToken` (passthrough attributes are not in the
   * labels), and are detached when their container exits. Returns their ids.
   */
  async recover(runtime: ContainerRuntime, executorId: string, driver: string): Promise<string[]> {
    const containers = await runtime.listContainers({ [LABEL.executor]: executorId });
    const attached: string[] = [];
    for (const c of containers) {
      if (c.labels[LABEL.role] !== 'main' || c.state !== 'running') continue;
      const attachment = attachmentFromLabels(c.labels);
      if (attachment === undefined || attachment.driver !== driver) continue;
      const { taskId } = attachment;
      if (this.records.has(taskId) || this.directory.taskById(taskId) !== undefined) continue;
      const role = c.labels[LABEL.iamRole];
      const appName = c.labels[LABEL.appName];
      const info: TaskIdentityInfo = {
        taskId,
        ...(attachment.ipv4 !== undefined ? { ipv4Address: attachment.ipv4 } : {}),
        ...(attachment.ipv6 !== undefined ? { ipv6Address: attachment.ipv6 } : {}),
        ...(attachment.mac !== undefined ? { mac: attachment.mac } : {}),
        hostname: hostnameFor(taskId),
        ...(role !== undefined && role !== '' ? { iamRoleArn: role } : {}),
        image: '',
        acceptedAtMs: Date.now(),
        containerInfo: { ...(role !== undefined && role !== '' ? { iamProfile: role } : {}), ...(appName !== undefined ? { appName } : {}) },
        partial: true,
      };
      try {
        this.attachTakingOver(info);
        await this.namespaces?.reopen(taskId, c.id, attachment);
      } catch (err) {
        // Fail closed: without its listener the task reaches nothing at 169.254.169.254 (its namespace's guard stays).
        this.detach(taskId);
        this.log.error({ taskId, err: errorMessage(err) }, 'a task that outlived the restart could not be attached to the metadata proxy');
        continue;
      }
      this.recovered.add(taskId);
      attached.push(taskId);
      void runtime
        .waitContainer(c.id)
        .catch(() => undefined)
        .then(async () => {
          if (this.recovered.has(taskId)) this.detach(taskId);
          if (!this.records.has(taskId)) await this.namespaces?.close(taskId);
        });
    }
    if (attached.length > 0) this.log.info({ tasks: attached }, 'tasks that outlived the restart attached to the metadata proxy');
    return attached;
  }
}
