/**
 * Task metrics derived purely from the status stream: the state gauge,
 * launch and failure counts, and phase durations from the timestamps of
 * consecutive updates. Nothing in the task core knows metrics exist.
 */
import type { StatusBus } from '../task/status-bus.js';
import { isTerminal, type StatusUpdate, type TaskState } from '../task/types.js';
import { LIVE_STATES, type LaunchPhase } from './label-values.js';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** The series this observer writes; Metrics owns them (naming them here keeps metrics.ts → task-observer.ts one way). */
export interface TaskSeries {
  readonly tasks: Gauge<'state'>;
  readonly tasksEnded: Counter<'state' | 'reason'>;
  readonly launches: Counter;
  readonly launchFailures: Counter<'reason'>;
  readonly launchPhaseSeconds: Histogram<'phase'>;
  readonly launchSeconds: Histogram;
  readonly killSeconds: Histogram;
}

/**
 * STARTING messages that open a phase (the task runner's wording). The open
 * phase closes when the next one opens, or at RUNNING. A new phase (network
 * setup) is one more row here.
 */
const PHASE_MARKERS: ReadonlyArray<{ readonly prefix: string; readonly opens: LaunchPhase }> = [
  { prefix: 'pulling image', opens: 'pull' },
  { prefix: 'setting up network and devices', opens: 'network' },
  { prefix: 'creating container', opens: 'create' },
  { prefix: 'starting container', opens: 'start' },
];

interface TrackedTask {
  state: TaskState;
  readonly acceptedMs: number | undefined;
  phase: LaunchPhase | undefined;
  phaseStartMs: number;
  reachedRunning: boolean;
  killStartMs: number | undefined;
}

const isLive = (s: TaskState): boolean => (LIVE_STATES as readonly string[]).includes(s);

const phaseOpenedBy = (u: StatusUpdate): LaunchPhase | undefined =>
  u.state === 'STARTING' ? PHASE_MARKERS.find((m) => u.message.startsWith(m.prefix))?.opens : undefined;

export class TaskMetricsObserver {
  private readonly tracked = new Map<string, TrackedTask>();

  constructor(private readonly metrics: TaskSeries) {}

  /** Subscribes to the bus; returns the unsubscribe function. */
  observe(bus: StatusBus): () => void {
    return bus.subscribe((u) => this.onUpdate(u));
  }

  onUpdate(u: StatusUpdate): void {
    const task = this.tracked.get(u.taskId) ?? this.track(u);
    this.moveState(task, u.state);
    if (u.state === 'STARTING') this.onStarting(task, u);
    else if (u.state === 'RUNNING') this.onRunning(task, u);
    else if (u.state === 'KILL_INITIATED') task.killStartMs ??= u.timestampMs;
    else if (isTerminal(u.state)) this.onTerminal(task, u);
  }

  /** A task first seen here: normally its ACCEPTED update; any other first update (observer attached late) gets no phases. */
  private track(u: StatusUpdate): TrackedTask {
    const accepted = u.state === 'ACCEPTED';
    if (accepted) this.metrics.launches.inc();
    const task: TrackedTask = {
      state: u.state,
      acceptedMs: accepted ? u.timestampMs : undefined,
      phase: accepted ? 'admission' : undefined,
      phaseStartMs: u.timestampMs,
      reachedRunning: u.state === 'RUNNING',
      killStartMs: undefined,
    };
    this.tracked.set(u.taskId, task);
    if (isLive(u.state)) this.metrics.tasks.inc({ state: u.state });
    return task;
  }

  private moveState(task: TrackedTask, to: TaskState): void {
    if (task.state === to) return;
    if (isLive(task.state)) this.metrics.tasks.dec({ state: task.state });
    if (isLive(to)) this.metrics.tasks.inc({ state: to });
    task.state = to;
  }

  private onStarting(task: TrackedTask, u: StatusUpdate): void {
    const opens = phaseOpenedBy(u);
    if (opens === undefined || opens === task.phase || task.phase === undefined) return;
    this.closePhase(task, u.timestampMs);
    task.phase = opens;
    task.phaseStartMs = u.timestampMs;
  }

  private onRunning(task: TrackedTask, u: StatusUpdate): void {
    if (task.reachedRunning) return;
    task.reachedRunning = true;
    this.closePhase(task, u.timestampMs);
    task.phase = undefined;
    if (task.acceptedMs !== undefined) this.metrics.launchSeconds.observe(seconds(u.timestampMs - task.acceptedMs));
  }

  private onTerminal(task: TrackedTask, u: StatusUpdate): void {
    this.tracked.delete(u.taskId);
    this.metrics.tasksEnded.inc({ state: u.state, reason: u.reasonCode });
    if (task.killStartMs !== undefined) this.metrics.killSeconds.observe(seconds(u.timestampMs - task.killStartMs));
    if (!task.reachedRunning && (u.state === 'FAILED' || u.state === 'LOST')) this.metrics.launchFailures.inc({ reason: u.reasonCode });
  }

  private closePhase(task: TrackedTask, atMs: number): void {
    if (task.phase === undefined) return;
    this.metrics.launchPhaseSeconds.observe({ phase: task.phase }, seconds(atMs - task.phaseStartMs));
  }
}

const seconds = (ms: number): number => Math.max(0, ms) / 1000;
