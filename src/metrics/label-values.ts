/** Label values shared by the series and the observers that record them. */

/** Live (non-terminal) states: the tasks gauge has one series each. Terminal tasks are counted, not gauged. */
export const LIVE_STATES = ['ACCEPTED', 'STARTING', 'RUNNING', 'KILL_INITIATED'] as const;

/** Launch phases, in order. `pull` runs from "pulling image" to "creating container": image check, pull, and part acquisition (GPUs). */
export const LAUNCH_PHASES = ['admission', 'pull', 'network', 'create', 'start'] as const;
export type LaunchPhase = (typeof LAUNCH_PHASES)[number];
