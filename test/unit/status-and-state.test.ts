import t from 'tap';
import { StatusBus } from '../../src/task/status-bus.js';
import { TaskStateMachine } from '../../src/task/task-state-machine.js';

const upd = (taskId: string) => ({ taskId, state: 'STARTING' as const, message: 'm', titusState: 'StartInitiated', reasonCode: 'normal' as const });

t.test('status bus: sequence numbers, replay and its limits', async (t) => {
  const bus = new StatusBus(3);
  const seen: number[] = [];
  const off = bus.subscribe((u) => seen.push(u.sequence));
  for (let i = 0; i < 5; i++) bus.publish(upd('a'));
  t.same(seen, [1, 2, 3, 4, 5]);
  t.equal(bus.latestSequence(), 5);
  t.same(bus.since(3)?.map((u) => u.sequence), [4, 5]);
  t.same(bus.since(2)?.map((u) => u.sequence), [3, 4, 5], 'the oldest retained is 3');
  t.equal(bus.since(1), undefined, 'a gap is reported, not hidden');
  t.same(bus.since(5), []);
  off();
  bus.publish(upd('a'));
  t.equal(seen.length, 5, 'unsubscribed');
  const resumed = new StatusBus(10, 41);
  t.equal(resumed.publish(upd('b')).sequence, 42, 'a bus can continue a persisted sequence');
});

t.test('state machine: legal transitions only, one terminal state', async (t) => {
  const bus = new StatusBus(100);
  const sm = new TaskStateMachine('t1', (u) => bus.publish(u));
  t.equal(sm.state, 'ACCEPTED');
  sm.transition('STARTING', 'pulling');
  sm.transition('STARTING', 'creating', 'normal', { containerId: 'c1' });
  sm.transition('RUNNING', 'running');
  t.equal(sm.last.containerId, 'c1', 'the container id stays on later updates');
  t.equal(sm.last.titusState, 'Started');
  sm.transition('KILL_INITIATED', 'kill', 'killed');
  t.throws(() => sm.transition('RUNNING', 'again'), { code: 'INTERNAL' }, 'no RUNNING after a kill');
  sm.transition('KILLED', 'killed', 'killed');
  t.ok(sm.terminal);
  for (const s of ['FINISHED', 'FAILED', 'LOST', 'KILLED', 'RUNNING'] as const) t.throws(() => sm.transition(s, 'x'), { code: 'INTERNAL' });
  t.same(sm.history.map((u) => u.state), ['ACCEPTED', 'STARTING', 'STARTING', 'RUNNING', 'KILL_INITIATED', 'KILLED']);
});
