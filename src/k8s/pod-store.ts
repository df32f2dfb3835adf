import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../common/atomic-file.js';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { LaunchSpec } from '../task/types.js';
import type { ContainerRecord } from './container-status.js';
import type { PodPlan } from './pod-plan.js';
import { POD_UID_RE } from './pod-schema.js';
import { RESTART_POLICIES } from './restart-policy.js';

/** One pod as this host keeps it: enough to answer /status and carry on after a restart. */
export interface StoredPod {
  readonly version: 1;
  /** The v1.Pod exactly as /create received it. */
  readonly pod: unknown;
  readonly plan: PodPlan;
  readonly createdAtMs: number;
  /** Containers whose task has been launched, in launch order. */
  readonly launched: readonly string[];
  /** The final record of every container whose current run has ended. */
  readonly ended: Readonly<Record<string, ContainerRecord>>;
  /** Restarts so far, by container (absent: none); run N's task is runTaskId(taskId, N). */
  readonly restarts?: Readonly<Record<string, number>>;
  /** The final record of each restarted container's previous run (its lastState). */
  readonly previous?: Readonly<Record<string, ContainerRecord>>;
  /** When the pod's activeDeadlineSeconds ran out while it was still active: it was stopped then (pod-deadline.ts). */
  readonly deadlineExceededAtMs?: number;
}

const exitSchema = z.object({ exitCode: z.number().int(), oomKilled: z.boolean(), signal: z.string().optional() });
const recordSchema = z.object({
  state: z.string().optional(),
  message: z.string().optional(),
  containerId: z.string().optional(),
  startedAtMs: z.number().optional(),
  finishedAtMs: z.number().optional(),
  exit: exitSchema.optional(),
  refused: z.object({ code: z.string(), message: z.string() }).optional(),
  lost: z.boolean().optional(),
});
const storedPodSchema = z.object({
  version: z.literal(1),
  pod: z.unknown(),
  plan: z.object({
    pod: z.object({ uid: z.string().regex(POD_UID_RE), name: z.string(), namespace: z.string() }),
    graceSeconds: z.number().int().nonnegative(),
    // Pods stored before restarts existed ran as Never.
    restartPolicy: z.enum(RESTART_POLICIES).default('Never'),
    activeDeadlineSeconds: z.number().int().positive().optional(),
    containers: z.array(
      z.object({
        name: z.string(),
        init: z.boolean(),
        taskId: z.string(),
        image: z.string(),
        // Written by this executor from a validated request; the task core checks it again at launch.
        launch: z.looseObject({ taskId: z.string() }).transform((l) => l as unknown as LaunchSpec),
      }),
    ),
  }),
  createdAtMs: z.number(),
  launched: z.array(z.string()),
  ended: z.record(z.string(), recordSchema.transform((r) => r as ContainerRecord)),
  restarts: z.record(z.string(), z.number().int().nonnegative()).optional(),
  previous: z.record(z.string(), recordSchema.transform((r) => r as ContainerRecord)).optional(),
  deadlineExceededAtMs: z.number().optional(),
});

/**
 * Pods under `<stateDir>/k8s/pods/<uid>/`: `pod.json` (written atomically,
 * readable by root only: it holds the resolved env, Secrets included) and
 * `volumes/`, the files the pod's containers mount.
 */
export class PodStore {
  private readonly podsDir: string;
  /** Writes of one pod happen in order, so an older state never lands last. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    root: string,
    private readonly log: Logger,
  ) {
    this.podsDir = join(root, 'pods');
  }

  podDir(uid: string): string {
    return join(this.podsDir, uid);
  }

  volumesDir(uid: string): string {
    return join(this.podDir(uid), 'volumes');
  }

  save(stored: StoredPod): Promise<void> {
    const uid = stored.plan.pod.uid;
    const text = JSON.stringify(stored);
    const previous = this.writes.get(uid) ?? Promise.resolve();
    const next = previous.then(() => writeFileAtomic(join(this.podDir(uid), 'pod.json'), text, 0o600));
    const settled = next.catch(() => undefined);
    this.writes.set(uid, settled);
    void settled.then(() => {
      if (this.writes.get(uid) === settled) this.writes.delete(uid);
    });
    return next;
  }

  /** Every stored pod; one that cannot be read is logged and left on disk for a person to look at. */
  loadAll(): StoredPod[] {
    mkdirSync(this.podsDir, { recursive: true, mode: 0o700 });
    const out: StoredPod[] = [];
    for (const uid of readdirSync(this.podsDir)) {
      if (!POD_UID_RE.test(uid)) continue;
      const file = join(this.podDir(uid), 'pod.json');
      try {
        const parsed = storedPodSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
        if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid');
        out.push(parsed.data as StoredPod);
      } catch (err) {
        // A pod directory without pod.json is a create that never finished: nothing ran from it.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          void this.remove(uid);
          continue;
        }
        this.log.error({ file, err: errorMessage(err) }, 'unreadable pod record; the pod is unknown until it is fixed or removed');
      }
    }
    return out;
  }

  /** Removes the pod's record and volumes, after any write still in flight. */
  async remove(uid: string): Promise<void> {
    await this.writes.get(uid);
    await rm(this.podDir(uid), { recursive: true, force: true });
  }
}
