/**
 * What a launch writes to the task store: every update before it is streamed,
 * and nothing twice. Each write is an fsync'd file replacement on the event
 * loop, so under a burst of 110 launches a redundant one costs every task.
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
import type { ContainerExit, ContainerRuntime, ContainerSummary } from '../../src/runtime/container-runtime.js';
import type { ContainerSpec, ImageConfig } from '../../src/runtime/container-spec.js';
import type { LaunchSpec } from '../../src/task/types.js';

class CountingStore extends TaskStore {
  readonly saved: TaskRecord[] = [];
  override save(record: TaskRecord): void {
    super.save(record);
    this.saved.push(record);
  }
}

/** A container that runs until stopped; start() looks at what the store holds at that moment. */
class Engine implements ContainerRuntime {
  private exited!: (e: ContainerExit) => void;
  private readonly exit = new Promise<ContainerExit>((r) => (this.exited = r));
  storedAtStart: TaskRecord | undefined;
  constructor(private readonly store: TaskStore) {}
  async version(): Promise<string> {
    return 'fake';
  }
  async findImage(): Promise<ImageConfig | undefined> {
    return { id: 'img', entrypoint: [], cmd: ['/bin/sh'], sizeBytes: 1 };
  }
  async pullImage(): Promise<void> {}
  async createContainer(spec: ContainerSpec): Promise<string> {
    return `c-${spec.name}`;
  }
  async startContainer(): Promise<void> {
    this.storedAtStart = this.store.load().records.find((r) => r.launch.taskId === 'burst-1');
  }
  waitContainer(): Promise<ContainerExit> {
    return this.exit;
  }
  async stopContainer(): Promise<void> {
    this.exited({ exitCode: 143, oomKilled: false });
  }
  async removeContainer(): Promise<void> {}
  async containerOutput(): Promise<string> {
    return '';
  }
  async listContainers(): Promise<ContainerSummary[]> {
    return [];
  }
}

const spec: LaunchSpec = {
  taskId: 'burst-1',
  containerInfo: { imageName: 'org/app' },
  resources: { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 },
  labels: {},
};

t.test('a launch writes its record once per update, and the container id is stored before the container is started', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'record-writes-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const store = new CountingStore(stateDir);
  const engine = new Engine(store);
  const tasks = new TaskManager({ runtime: engine, config: parseConfig({ stateDir }), log: silentLogger(), store });
  tasks.launch(spec);
  for (let i = 0; i < 200 && tasks.get(spec.taskId).state !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 5));
  const updates = tasks.get(spec.taskId).history.length;
  t.same(
    tasks.get(spec.taskId).history.map((u) => u.message.replace(/pulling image .*/, 'pulling image')),
    ['accepted', 'pulling image', 'setting up network and devices', 'creating container', 'starting container', 'main container is now running'],
    'the updates of a launch',
  );
  t.equal(store.saved.length, updates, `${updates} updates, ${updates} record writes (no write of its own after the create)`);
  t.equal(engine.storedAtStart?.containerId, 'c-burst-1', 'the record names the container before it is started (a restart finds it)');
  t.match(engine.storedAtStart?.history.at(-1), { message: 'starting container', containerId: 'c-burst-1' });

  tasks.kill(spec.taskId, 'done', 1);
  await tasks.drain();
  const last = store.load().records.find((r) => r.launch.taskId === spec.taskId);
  t.equal(last?.history.at(-1)?.state, 'KILLED', 'the end is stored');
  t.equal(last?.containerId, 'c-burst-1');
});
