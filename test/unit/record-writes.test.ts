/**
 * What a launch writes to the task store: every update before it is streamed,
 * and nothing twice. Each write is an fsync'd file replacement, so under a
 * burst of 110 launches a redundant one costs every task; the group commit
 * (src/task/group-commit.ts) writes a task's updates that pile up together.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import { TaskStore } from '../../src/task/task-store.js';
import type { TaskRecord } from '../../src/task/task-record.js';
import type { RecordWriteError } from '../../src/task/record-write-error.js';
import type { StatusUpdate } from '../../src/task/types.js';
import { UntilStoppedEngine } from '../helpers/until-stopped-engine.js';
import type { LaunchSpec } from '../../src/task/types.js';

class CountingStore extends TaskStore {
  readonly saved: TaskRecord[] = [];
  /** Written on the spot, on the event loop. */
  onTheSpot = 0;
  override save(record: TaskRecord): void {
    super.save(record);
    this.saved.push(record);
    this.onTheSpot++;
  }
  override async saveMany(records: readonly TaskRecord[]): Promise<Array<RecordWriteError | undefined>> {
    const results = await super.saveMany(records);
    for (const [i, r] of records.entries()) if (results[i] === undefined) this.saved.push(r);
    return results;
  }
}

const spec: LaunchSpec = {
  taskId: 'burst-1',
  containerInfo: { imageName: 'org/app' },
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
};

t.test('a launch stores every update before it is streamed, with no write of its own after the create and one on the event loop', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'record-writes-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const store = new CountingStore(stateDir);
  const engine = new UntilStoppedEngine();
  const tasks = new TaskManager({ runtime: engine, config: parseConfig({ stateDir }), log: silentLogger(), store });
  const unstored: string[] = [];
  tasks.subscribe((u: StatusUpdate) => {
    const stored = store.load().records.find((r) => r.launch.taskId === u.taskId);
    if (!stored?.history.some((h) => h.sequence === u.sequence)) unstored.push(`${u.sequence} ${u.state} ${u.message}`);
  });
  tasks.launch(spec);
  for (let i = 0; i < 200 && tasks.get(spec.taskId).state !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 5));
  const history = tasks.get(spec.taskId).history;
  t.same(
    history.map((u) => u.message.replace(/pulling image .*/, 'pulling image')),
    ['accepted', 'pulling image', 'setting up network and devices', 'creating container', 'starting container', 'main container is now running'],
    'every update of a launch is streamed (none folded into the next)',
  );
  t.same(unstored, [], 'each was in the store when it was streamed');
  t.ok(store.saved.length <= history.length, `${history.length} updates, ${store.saved.length} record writes: none of its own after the create`);
  t.equal(store.onTheSpot, 1, 'only ACCEPTED is written on the event loop (a launch the store refuses fails)');
  t.equal(store.load().records.find((r) => r.launch.taskId === spec.taskId)?.containerId, 'c-burst-1', 'the record names the container');

  tasks.kill(spec.taskId, 'done', 1);
  t.equal(tasks.get(spec.taskId).state, 'KILL_INITIATED', 'a kill is stored on the spot: KillTask answers with it');
  await tasks.drain();
  const last = store.load().records.find((r) => r.launch.taskId === spec.taskId);
  t.equal(last?.history.at(-1)?.state, 'KILLED', 'the end is stored');
  t.equal(last?.containerId, 'c-burst-1');
  t.same(unstored, [], 'every update was stored before it was streamed');
  const sequences = tasks.get(spec.taskId).history.map((u) => u.sequence);
  t.same(sequences, [...sequences].sort((a, b) => a - b), 'streamed in sequence order');
});
