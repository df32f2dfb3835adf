import { join } from 'node:path';
import { z } from 'zod';
import type { ExecutorConfig } from '../config/config.js';
import { ExecutorError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { LogLine, TaskLogReader } from '../task/task-service.js';
import type { SharedNetworks } from '../task/shared-networks.js';
import type { HostResourcesView } from '../task/task-manager.js';
import type { UpdateListener } from '../task/status-bus.js';
import type { TaskState, TaskView } from '../task/types.js';
import { toContainerStatus, type ContainerRecord } from './container-status.js';
import { planLogs, type LogPlan } from './log-request.js';
import { pingAnswer, type PingAnswer } from './node-status.js';
import { parseBody } from './parse-body.js';
import { graceSecondsOf, planPod } from './pod-plan.js';
import { createRequestSchema, logsRequestSchema, podRefSchema, statusBodySchema, type CreateRequest, type K8sPodRef } from './pod-schema.js';
import { parsePodTaskId } from './pod-names.js';
import { PodStore, type StoredPod } from './pod-store.js';
import { PodSupervisor, type PodStatusAnswer, type PodTasks } from './pod-supervisor.js';

/** The task core as the plugin uses it; TaskManager is one. */
export interface InterlinkTasks extends PodTasks {
  subscribe(listener: UpdateListener): () => void;
  hostResources(): Promise<HostResourcesView>;
  list(filter: { includeTerminal: boolean; states: readonly TaskState[] }): TaskView[];
}

export interface InterlinkServiceDeps {
  readonly tasks: InterlinkTasks;
  readonly config: ExecutorConfig;
  readonly log: Logger;
  /** The per-task log store; without it /getLogs answers 501. */
  readonly logs?: TaskLogReader;
  /** Whether the host drains: the ping adds a NoSchedule taint and /create is refused. */
  readonly isDraining?: () => boolean;
  /** Between launch attempts while the engine is unavailable (tests shorten it). */
  readonly retryMs?: number;
  /** Pods' shared networks, removed when a pod ends or is deleted; absent when tasks have a network driver. */
  readonly sharedNetworks?: SharedNetworks;
}

/** interLink's CreateStruct. */
export interface CreateAnswer {
  readonly PodUID: string;
  readonly PodJID: string;
}

/** A container's logs as /getLogs streams them. */
export interface LogsAnswer {
  readonly plan: LogPlan;
  readonly batches: AsyncIterable<readonly LogLine[]>;
}

/**
 * The interLink plugin's operations on pods, over the same task core as gRPC
 * launches. Pods are persisted under `<stateDir>/k8s/` and their container
 * statuses kept in memory from the task core's updates.
 */
export class InterlinkService {
  private readonly store: PodStore;
  private readonly pods = new Map<string, PodSupervisor>();
  /** Creates in flight, so a retried create of the same UID waits for the first. */
  private readonly creating = new Map<string, Promise<CreateAnswer>>();
  private unsubscribe: (() => void) | undefined;
  /** A ping was answered with the drain taint: from then on, pings that are not draining clear it. */
  private drainAnswered = false;

  constructor(private readonly deps: InterlinkServiceDeps) {
    this.store = new PodStore(join(deps.config.stateDir, 'k8s'), deps.log);
  }

  /** Subscribes to the task core, then takes back every stored pod and resumes its sequence. */
  start(): void {
    this.unsubscribe = this.deps.tasks.subscribe((u) => {
      const podUid = parsePodTaskId(u.taskId)?.podUid;
      if (podUid !== undefined) this.pods.get(podUid)?.onUpdate(u);
    });
    for (const stored of this.store.loadAll()) this.adopt(stored);
    if (this.pods.size > 0) this.deps.log.info({ pods: this.pods.size }, 'interLink pods restored');
  }

  /** The UIDs of the pods this host has (running, ended or being deleted). */
  podUids(): string[] {
    return [...this.pods.keys(), ...this.creating.keys()];
  }

  /** Launches nothing more; running containers keep running. */
  stop(): void {
    this.unsubscribe?.();
    for (const pod of this.pods.values()) pod.halt();
  }

  /** POST /create: one object (interLink >= 0.5) or a list of them (0.4 and earlier). */
  async create(body: unknown): Promise<CreateAnswer | CreateAnswer[]> {
    const requests = Array.isArray(body)
      ? parseBody(z.array(createRequestSchema).min(1, 'is an empty list of pods'), body, '')
      : [parseBody(createRequestSchema, body, '')];
    const answers: CreateAnswer[] = [];
    for (const req of requests) answers.push(await this.createOne(req));
    return Array.isArray(body) && answers.length > 1 ? answers : (answers[0] as CreateAnswer);
  }

  private createOne(req: CreateRequest): Promise<CreateAnswer> {
    const uid = req.pod.metadata.uid;
    const answer = { PodUID: uid, PodJID: uid };
    if (this.pods.has(uid)) return Promise.resolve(answer); // a retry of a create that succeeded
    const inFlight = this.creating.get(uid);
    if (inFlight !== undefined) return inFlight;
    if (this.deps.isDraining?.() === true) {
      throw new ExecutorError('UNAVAILABLE', 'this host is draining and accepts no new pods');
    }
    const created = this.createNew(req)
      .then(() => answer)
      .finally(() => this.creating.delete(uid));
    this.creating.set(uid, created);
    return created;
  }

  private async createNew(req: CreateRequest): Promise<void> {
    const uid = req.pod.metadata.uid;
    let stored: StoredPod;
    try {
      const plan = await planPod(req, this.store.volumesDir(uid), this.deps.config.defaultResources);
      stored = { version: 1, pod: req.pod, plan, createdAtMs: Date.now(), launched: [], ended: {} };
      await this.store.save(stored);
    } catch (err) {
      await this.store.remove(uid).catch(() => undefined);
      throw err;
    }
    const where = { podUid: uid, pod: `${stored.plan.pod.namespace}/${stored.plan.pod.name}` };
    for (const warning of stored.plan.warnings ?? []) this.deps.log.warn(where, warning);
    this.deps.log.info({ ...where, containers: stored.plan.containers.length }, 'pod created');
    this.adopt(stored);
  }

  private adopt(stored: StoredPod): void {
    const pod = new PodSupervisor(stored, {
      tasks: this.deps.tasks,
      store: this.store,
      log: this.deps.log,
      ...(this.deps.retryMs !== undefined ? { retryMs: this.deps.retryMs } : {}),
      restartBackoff: this.deps.config.interlink.restartBackoff,
      ...(this.deps.sharedNetworks !== undefined ? { sharedNetworks: this.deps.sharedNetworks } : {}),
    });
    this.pods.set(pod.uid, pod);
    pod.start();
  }

  /** POST /delete: kills the pod's containers with its grace period and removes its files; an unknown pod is fine. */
  async delete(body: unknown): Promise<void> {
    const ref = parseBody(podRefSchema, body, 'pod');
    const uid = ref.metadata.uid;
    await this.creating.get(uid)?.catch(() => undefined);
    const pod = this.pods.get(uid);
    if (pod === undefined) return;
    await pod.delete(graceSecondsOf(ref) ?? pod.graceSeconds);
    await this.store.remove(uid);
    // Another delete of the same pod may have finished first.
    if (this.pods.get(uid) === pod) {
      this.pods.delete(uid);
      this.deps.log.info({ podUid: uid }, 'pod deleted');
    }
  }

  /** GET /status: the ping for `[]`, else one answer per pod asked about. */
  async status(body: unknown): Promise<PingAnswer | PodStatusAnswer[]> {
    const refs = parseBody(statusBodySchema, body, 'pods') ?? [];
    if (refs.length === 0) return this.ping();
    return refs.map((ref) => {
      const uid = ref.metadata.uid;
      const pod = this.pods.get(uid);
      if (pod !== undefined) return pod.status();
      if (this.creating.has(uid)) return podStatusOf(ref, { message: 'the pod is being created on this host' });
      return unknownPodStatus(ref);
    });
  }

  private async ping(): Promise<PingAnswer> {
    const host = await this.deps.tasks.hostResources();
    const live = this.deps.tasks.list({ includeTerminal: false, states: [] });
    const draining = this.deps.isDraining?.() === true;
    // Remembered from the first draining ping on: the virtual kubelet keeps a taint until told otherwise.
    if (draining) this.drainAnswered = true;
    return pingAnswer(host, live, this.deps.config.interlink.maxPods, draining, this.drainAnswered);
  }

  /** GET /getLogs: the container's lines from the log store, following if asked. */
  logs(body: unknown, signal: AbortSignal): LogsAnswer {
    const req = parseBody(logsRequestSchema, body, '');
    const reader = this.deps.logs;
    if (reader === undefined) throw new ExecutorError('UNIMPLEMENTED', 'this executor keeps no task logs (the log store is not configured)');
    const pod = this.pods.get(req.PodUID);
    if (pod === undefined) throw new ExecutorError('NOT_FOUND', `pod ${req.PodUID} is not on this host`);
    const found = pod.container(req.ContainerName);
    if (found === undefined) throw new ExecutorError('NOT_FOUND', `container ${req.ContainerName} is not in pod ${req.PodName ?? req.PodUID}`);
    const where = `container "${req.ContainerName}" in pod "${req.PodName ?? req.PodUID}"`;
    const plan = planLogs(req, Date.now());
    const query = {
      ...(plan.tailLines !== undefined ? { tailLines: plan.tailLines } : {}),
      ...(plan.sinceMs !== undefined ? { sinceMs: plan.sinceMs } : {}),
      follow: plan.follow,
      signal,
    };
    if (req.Opts?.Previous === true) {
      // kubelet's words, for a container that has not been restarted.
      if (found.previousTaskId === undefined) throw new ExecutorError('INVALID_ARGUMENT', `previous terminated ${where} not found`);
      return { plan, batches: reader.read(found.previousTaskId, query) };
    }
    const { record } = found;
    if (record.refused !== undefined) throw new ExecutorError('INVALID_ARGUMENT', `${where} never started: ${record.refused.message}`);
    if (record.state === undefined && record.lost !== true) {
      const gaveUp = pod.gaveUp();
      if (gaveUp !== undefined) throw new ExecutorError('INVALID_ARGUMENT', `${where} was ${gaveUp.why}`);
      const waiting = toContainerStatus(found.planned.name, found.planned.image, found.planned.init, record).state.waiting;
      throw new ExecutorError('INVALID_ARGUMENT', `${where} is waiting to start: ${waiting?.reason ?? 'PodInitializing'}`);
    }
    return { plan, batches: reader.read(found.taskId, query) };
  }
}

/**
 * The annotation interLink's virtual kubelet puts on a pod once the plugin's
 * /create answered, with the PodJID; it is the only sign that a create was made.
 */
export const JOB_ID_ANNOTATION = 'JobID';

/**
 * A pod this host has no record of. Without the virtual kubelet's JobID it was
 * not created yet (the virtual kubelet polls a new pod while it still resolves
 * its volumes, up to minutes): every container waits, which it leaves Pending.
 * With one, it was created and is gone (its record was lost, or it was deleted
 * meanwhile): every container reads as ended with an unknown status, as kubelet
 * reports containers it cannot find, so the pod fails and its controller
 * replaces it.
 */
const unknownPodStatus = (ref: K8sPodRef): PodStatusAnswer => {
  const jobId = ref.metadata.annotations?.[JOB_ID_ANNOTATION];
  if (jobId === undefined || jobId === '') return podStatusOf(ref, { message: 'the pod is not created on this host yet' });
  return podStatusOf(ref, {
    state: 'LOST',
    message: `the pod was created (${JOB_ID_ANNOTATION} ${jobId}) but this host has no record of it: its state was lost or it was deleted`,
    finishedAtMs: Date.now(),
  });
};

/** Every container of the pod as it was sent, each with the same record. */
const podStatusOf = (ref: K8sPodRef, record: ContainerRecord): PodStatusAnswer => {
  const spec = ref.spec;
  const of = (init: boolean) => (c: { name: string; image?: string | null | undefined }) => toContainerStatus(c.name, c.image ?? '', init, record);
  return {
    name: ref.metadata.name ?? '',
    UID: ref.metadata.uid,
    namespace: ref.metadata.namespace ?? 'default',
    JID: '',
    containers: (spec?.containers ?? []).map(of(false)),
    initContainers: (spec?.initContainers ?? []).map(of(true)),
  };
};
