/** The durable task store on real files: round trips, damage detection, sequence continuity. */
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskStore } from '../../src/task/task-store.js';
import type { TaskRecord } from '../../src/task/task-record.js';
import { StatusBus } from '../../src/task/status-bus.js';
import { TaskStateMachine } from '../../src/task/task-state-machine.js';

const record = (taskId: string, sequence = 1): TaskRecord => ({
  launch: {
    taskId,
    containerInfo: { imageName: 'app', signedAddressAllocation: Buffer.from([1, 2, 250]) },
    resources: { cpu: 1, memoryMb: 64, diskMb: 10, networkMbps: 0, gpus: 0 },
    labels: { a: 'b' },
  },
  image: { repository: 'app', tag: 'latest', ref: 'app:latest' },
  acceptedAtMs: 1000,
  containerId: 'c1',
  exit: { exitCode: 3, oomKilled: false },
  history: [{ taskId, sequence, timestampMs: 1000, state: 'ACCEPTED', message: 'accepted', titusState: 'Launched', reasonCode: 'normal' }],
});

const tempStore = (t: { teardown(fn: () => void): void }): { dir: string; store: TaskStore } => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, store: new TaskStore(dir) };
};

t.test('a record round-trips, bytes included', async (t) => {
  const { store } = tempStore(t);
  store.save(record('a'));
  const { records, corrupt } = store.load();
  t.same(corrupt, []);
  t.equal(records.length, 1);
  const back = records[0];
  t.ok(Buffer.isBuffer(back?.launch.containerInfo.signedAddressAllocation), 'bytes come back as bytes');
  t.same([...(back?.launch.containerInfo.signedAddressAllocation ?? [])], [1, 2, 250]);
  t.same(back?.exit, { exitCode: 3, oomKilled: false });
});

t.test('damage is detected, reported with a reason, and the file moved aside', async (t) => {
  const { dir, store } = tempStore(t);
  for (const id of ['torn', 'flip', 'other', 'fine', 'schema']) store.save(record(id));
  const file = (id: string): string => join(dir, 'tasks', `${id}.json`);
  writeFileSync(file('torn'), readFileSync(file('torn')).subarray(0, 60));
  writeFileSync(file('flip'), readFileSync(file('flip'), 'utf8').replace('"app"', '"apq"'));
  writeFileSync(file('other'), readFileSync(file('fine'))); // a copy of another task's record
  // Checksum right, content wrong: a record that does not fit the schema.
  const body = JSON.stringify({ launch: { taskId: 'schema' } });
  const { createHash } = await import('node:crypto');
  writeFileSync(file('schema'), `titus-task-record 1 sha256=${createHash('sha256').update(body).digest('hex')} bytes=${body.length}\n${body}\n`);
  writeFileSync(join(dir, 'tasks', '.fine.json.123.abc.tmp'), 'half a write'); // an interrupted write's temporary
  const { records, corrupt } = store.load();
  t.same(records.map((r) => r.launch.taskId), ['fine']);
  const reasons = Object.fromEntries(corrupt.map((c) => [c.taskId, c.reason]));
  t.match(reasons, { torn: /torn write/, flip: /checksum mismatch/, other: /holds task fine/, schema: /does not fit the schema/ });
  t.same(readdirSync(join(dir, 'tasks')).filter((f) => f.endsWith('.json')), ['fine.json'], 'damaged files no longer read');
  t.equal(readdirSync(join(dir, 'tasks')).filter((f) => f.includes('.corrupt-')).length, 4, 'but kept');
  t.same(store.load().corrupt, [], 'a second load does not report them again');
  t.notOk(readdirSync(join(dir, 'tasks')).some((f) => f.endsWith('.tmp')), 'the temporary of an interrupted write is removed');
});

t.test('sequence numbers never go back, even when records are removed', async (t) => {
  const { store } = tempStore(t);
  const bus = new StatusBus(100);
  const sm = new TaskStateMachine('x', (u) => bus.publish(u));
  sm.transition('STARTING', 'go');
  store.writeSequence(bus.latestSequence());
  const restored = new StatusBus(100);
  restored.restore([], store.readSequence());
  t.equal(restored.publish({ taskId: 'y', state: 'ACCEPTED', message: 'm', titusState: 'Launched', reasonCode: 'normal' }).sequence, 3);
  const fromHistory = new StatusBus(100);
  fromHistory.restore(sm.history, 0);
  t.same(fromHistory.since(1)?.map((u) => u.sequence), [2], 'restored updates can be replayed');
});

t.test('a failing write fails the publish: nobody sees an update that was not stored', async (t) => {
  const bus = new StatusBus(10);
  const seen: number[] = [];
  bus.subscribe((u) => seen.push(u.sequence));
  t.throws(() =>
    bus.publish({ taskId: 'z', state: 'ACCEPTED', message: 'm', titusState: 'Launched', reasonCode: 'normal' }, () => {
      throw new Error('disk full');
    }),
  );
  t.same(seen, []);
  t.equal(bus.latestSequence(), 0, 'the number is not used up');
});
