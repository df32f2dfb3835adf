import type { TaskManager } from './task-manager.js';

/**
 * The core as a door (gRPC, interLink, the CLI) sees it: launch, kill, get,
 * list, watch (the status bus with its snapshot and replay), host resources
 * and drain. TaskManager is the one implementation; a door that types against
 * this cannot reach the runner, the store or the parts behind it.
 */
export type TaskService = Pick<
  TaskManager,
  'launch' | 'kill' | 'get' | 'list' | 'snapshot' | 'subscribe' | 'bus' | 'hostResources' | 'drainState' | 'setDrain'
>;
