import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../common/process-liveness.js';
import { TITUS_STATE, isTerminal, type TaskView } from './types.js';

/** The label a task run by `titus-executor run-task` carries in the daemon's listings. */
export const RUN_TASK_LABEL = 'titus.executor.mode';

interface PublishedDocument {
  readonly pid?: number;
  readonly pidStartTime?: string;
  readonly view?: TaskView;
}

/** JSON turns the one bytes field of ContainerInfo into {type:'Buffer',data}; bring it back. */
const reviveBytes = (view: TaskView): TaskView => {
  const raw = view.containerInfo.signedAddressAllocation as unknown;
  if (raw === undefined || raw instanceof Uint8Array) return view;
  const data = (raw as { data?: number[] }).data ?? [];
  return { ...view, containerInfo: { ...view.containerInfo, signedAddressAllocation: Buffer.from(data) } };
};

/**
 * Tasks that `run-task` processes on this host published (one JSON file per
 * task), so the daemon lists them next to its own. A task whose process is gone
 * before it ended is shown LOST: nobody will report its end any more.
 */
/** Every `<taskId>.json` document in `dir` that parses; a missing dir is none. */
export const readPublishedDocuments = <T>(dir: string): T[] => {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const name of names) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as T);
    } catch {
      // being replaced, or not ours
    }
  }
  return out;
};

export const readPublishedTaskViews = (dir: string): TaskView[] => {
  const out: TaskView[] = [];
  for (const doc of readPublishedDocuments<PublishedDocument>(dir)) {
    if (doc.view === undefined || typeof doc.pid !== 'number') continue;
    const view = reviveBytes({ ...doc.view, labels: { ...doc.view.labels, [RUN_TASK_LABEL]: 'run-task' } });
    if (isTerminal(view.state) || isProcessAlive(doc.pid, doc.pidStartTime)) {
      out.push(view);
      continue;
    }
    const lost = {
      ...view.lastUpdate,
      state: 'LOST' as const,
      titusState: TITUS_STATE.LOST,
      reasonCode: 'lost' as const,
      message: `run-task process ${doc.pid} is gone; the task's end was never reported`,
    };
    out.push({ ...view, state: 'LOST', lastUpdate: lost, history: [...view.history, lost] });
  }
  return out;
};
