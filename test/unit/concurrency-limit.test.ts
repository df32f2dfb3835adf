/** docker.engineConcurrency's gate: at most `limit` calls in flight, the rest in order; 0 lets all through. */
import t from 'tap';
import { ConcurrencyLimit } from '../../src/common/concurrency-limit.js';

const deferred = (): { promise: Promise<void>; resolve: () => void } => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

t.test('at most `limit` in flight; the next starts when one ends, first come first served', async (t) => {
  const gate = new ConcurrencyLimit(2);
  const started: number[] = [];
  const releases = Array.from({ length: 4 }, deferred);
  const runs = releases.map((d, i) =>
    gate.run(async () => {
      started.push(i);
      await d.promise;
      return i;
    }),
  );
  await new Promise((r) => setImmediate(r));
  t.same(started, [0, 1], 'two start');
  t.equal(gate.queued, 2);
  releases[1]?.resolve();
  await new Promise((r) => setImmediate(r));
  t.same(started, [0, 1, 2], 'the first waiting one takes the freed slot');
  t.equal(gate.inFlight, 2);
  for (const d of releases) d.resolve();
  t.same(await Promise.all(runs), [0, 1, 2, 3]);
  t.equal(gate.inFlight, 0, 'every slot given back');
});

t.test('a failing call gives its slot back; a limit of 0 does not limit', async (t) => {
  const gate = new ConcurrencyLimit(1);
  await t.rejects(gate.run(() => Promise.reject(new Error('engine said no'))));
  t.equal(await gate.run(async () => 'next'), 'next');
  t.equal(gate.inFlight, 0);
  const open = new ConcurrencyLimit(0);
  const hold = deferred();
  let started = 0;
  const runs = Array.from({ length: 50 }, () => open.run(async () => {
      started++;
      await hold.promise;
    }));
  await new Promise((r) => setImmediate(r));
  t.equal(started, 50, 'all at once');
  hold.resolve();
  await Promise.all(runs);
});
