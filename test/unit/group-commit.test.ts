/**
 * The status bus under a group commit: numbers reserved for updates still
 * being written hold back later ones, so subscribers always see sequence
 * order; a number whose write failed is skipped, not waited for.
 */
import t from 'tap';
import { StatusBus } from '../../src/task/status-bus.js';
import type { NewUpdate } from '../../src/task/status-bus.js';

const update = (taskId: string): NewUpdate => ({ taskId, state: 'RUNNING', message: 'm', titusState: 'TASK_RUNNING', reasonCode: 'normal' }) as NewUpdate;

t.test('a reserved update holds back later ones until it is delivered or abandoned', async (t) => {
  const bus = new StatusBus(100);
  const seen: number[] = [];
  bus.subscribe((u) => seen.push(u.sequence));
  const a = bus.reserve(update('a'));
  const b = bus.reserve(update('b'));
  const c = bus.reserve(update('c'));
  bus.deliver(c);
  t.same(seen, [], 'c waits for a and b');
  const d = bus.publish(update('d'), () => undefined);
  t.same(seen, [], 'an update stored on the spot waits too');
  bus.deliver(a);
  t.same(seen, [a.sequence], 'a goes');
  bus.abandon(b.sequence);
  t.same(seen, [a.sequence, c.sequence, d.sequence], 'b is skipped; c and d go, in order');
  t.same(bus.since(0)?.map((u) => u.sequence), [a.sequence, c.sequence, d.sequence], 'the ring keeps them in order, with the gap');
});

t.test('a write refused on the spot uses up no number', async (t) => {
  const bus = new StatusBus(100);
  const before = bus.latestSequence();
  t.throws(() => bus.publish(update('x'), () => {
    throw new Error('full');
  }));
  t.equal(bus.latestSequence(), before);
  const y = bus.publish(update('y'));
  t.equal(y.sequence, before + 1);
});
