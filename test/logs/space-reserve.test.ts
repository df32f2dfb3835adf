/** The logs reserve, one copy's view: what fits is stored, a marker where it stops, nothing while stopped, a marker where it resumes. */
import t from 'tap';
import { LogSpaceReserve } from '../../src/logs/space-reserve.js';
import { storedLineBytes, type StoredLine } from '../../src/logs/stored-line.js';

class FakeReserve extends LogSpaceReserve {
  roomNow = Infinity;
  override async room(): Promise<number> {
    return this.roomNow;
  }
}

const line = (n: number): StoredLine => ({ timestamp: `2026-01-01T00:00:00.${String(n).padStart(9, '0')}Z`, stream: 'stdout', text: `line ${n} ${'x'.repeat(50)}` });
const lines = (from: number, count: number): StoredLine[] => Array.from({ length: count }, (_, i) => line(from + i));

t.test('stops at the reserve with a marker, drops while down to it, resumes with a marker', async (t) => {
  let pauses = 0;
  let dropped = 0;
  let ownPauses = 0;
  const reserve = new FakeReserve('/nonexistent', 1024 * 1024, { onPaused: () => pauses++, onDropped: (n) => (dropped += n) });
  const gate = reserve.gate(() => ownPauses++);
  const one = storedLineBytes(line(0));

  reserve.roomNow = 1_000_000;
  t.same(await gate.admit(lines(0, 5)), lines(0, 5), 'all of it while there is room');

  reserve.roomNow = 512 + 3 * one; // the marker's share, and three lines
  const cut = await gate.admit(lines(5, 10));
  t.same(cut.slice(0, 3), lines(5, 3), 'the lines that fit');
  t.equal(cut.length, 4);
  t.match(cut[3], { stream: 'stderr', timestamp: line(8).timestamp, text: /^\[titus-executor\] output not stored from here: .*1\.0 MiB reserve \(logs\.reserveMb\)/ }, 'then a marker, timed as the first line dropped');
  t.equal(pauses, 1);
  t.equal(ownPauses, 1, 'the copy is told (it logs the task)');
  t.equal(dropped, 7);

  reserve.roomNow = 10 * one; // room for these lines, not for the margin
  t.same(await gate.admit(lines(15, 5)), [], 'nothing while it has barely any room: no stop and start on every batch');
  t.equal(dropped, 12);

  reserve.roomNow = 10_000_000;
  const resumed = await gate.admit(lines(20, 2));
  t.match(resumed[0], { stream: 'stderr', timestamp: line(19).timestamp, text: /^\[titus-executor\] output stored again; 12 lines before this one were not stored/ }, 'a marker, timed as the last line dropped');
  t.same(resumed.slice(1), lines(20, 2), 'then the lines');
  t.same(await gate.admit(lines(22, 2)), lines(22, 2), 'and on as usual');
  t.equal(pauses, 1, 'one pause counted');
});

t.test('no reserve: everything is stored', async (t) => {
  const reserve = new LogSpaceReserve('/nonexistent', 0);
  t.equal(await reserve.room(), Infinity);
  t.same(await reserve.gate().admit(lines(0, 3)), lines(0, 3));
});
