/**
 * The pieces a log line passes through, without an engine: the engine's
 * timestamps in their fixed form, the engine's framed stream split at every
 * possible byte, and the line format kept on disk.
 */
import t from 'tap';
import { OutputFrameParser } from '../../src/runtime/output-frames.js';
import { normalizeTimestamp, timestampFromMs, timestampToMs } from '../../src/runtime/output-timestamp.js';
import { formatStoredLine, parseStoredLine, storedLineBytes, truncateToFit } from '../../src/logs/stored-line.js';
import { ResumeFilter } from '../../src/runtime/output-resume.js';
import { parseSince } from '../../src/cli/since.js';

const frame = (stream: 1 | 2, text: string): Buffer => {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
};

t.test('engine timestamps become fixed-width UTC with nine fractional digits', async (t) => {
  t.equal(normalizeTimestamp('2024-05-01T12:00:00.123456789Z'), '2024-05-01T12:00:00.123456789Z');
  t.equal(normalizeTimestamp('2024-05-01T12:00:00.5Z'), '2024-05-01T12:00:00.500000000Z', 'trailing zeros Go trims come back');
  t.equal(normalizeTimestamp('2024-05-01T12:00:00Z'), '2024-05-01T12:00:00.000000000Z');
  t.equal(normalizeTimestamp('2024-05-01T14:30:00.1+02:30'), '2024-05-01T12:00:00.100000000Z', 'a zone offset is applied');
  t.equal(normalizeTimestamp('2024-05-01 12:00:00Z'), undefined);
  t.equal(normalizeTimestamp('hello'), undefined);
  const a = normalizeTimestamp('2024-05-01T12:00:00.000000009Z') ?? '';
  const b = normalizeTimestamp('2024-05-01T12:00:00.00000001Z') ?? '';
  t.ok(a < b, '9 ns sorts before 10 ns as strings');
  t.equal(timestampToMs('2024-05-01T12:00:00.123999999Z'), Date.parse('2024-05-01T12:00:00.123Z'));
  t.equal(timestampFromMs(Date.parse('2024-05-01T12:00:00.042Z')), '2024-05-01T12:00:00.042000000Z');
});

t.test('the framed stream is parsed the same however the chunks fall', async (t) => {
  const stream = Buffer.concat([
    frame(1, '2024-05-01T12:00:00.000000001Z out one\n'),
    frame(2, '2024-05-01T12:00:00.000000002Z err one\n'),
    frame(1, '2024-05-01T12:00:00.000000003Z \n'),
    frame(1, '2024-05-01T12:00:00.000000004Z ünïcödé ✓\n'),
    frame(2, '2024-05-01T12:00:00.000000005Z no newline (a cut long line)'),
  ]);
  const expected = [
    { stream: 'stdout', timestamp: '2024-05-01T12:00:00.000000001Z', text: 'out one' },
    { stream: 'stderr', timestamp: '2024-05-01T12:00:00.000000002Z', text: 'err one' },
    { stream: 'stdout', timestamp: '2024-05-01T12:00:00.000000003Z', text: '' },
    { stream: 'stdout', timestamp: '2024-05-01T12:00:00.000000004Z', text: 'ünïcödé ✓' },
    { stream: 'stderr', timestamp: '2024-05-01T12:00:00.000000005Z', text: 'no newline (a cut long line)' },
  ];
  for (let cut = 1; cut < stream.length; cut++) {
    const parser = new OutputFrameParser();
    const got = [...parser.push(stream.subarray(0, cut)), ...parser.push(stream.subarray(cut)), ...parser.end()];
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      t.same(got, expected, `split at byte ${cut}`);
      return;
    }
  }
  const byteByByte = new OutputFrameParser();
  const got = [...stream].flatMap((b) => byteByByte.push(Buffer.from([b])));
  t.same([...got, ...byteByByte.end()], expected, 'one byte at a time too');
});

t.test("a TTY container's unframed stream is read as stdout lines", async (t) => {
  const parser = new OutputFrameParser();
  const got = [
    ...parser.push(Buffer.from('2024-05-01T12:00:00.000000001Z first\r\n2024-05-01T12:00:00.0000')),
    ...parser.push(Buffer.from('00002Z second\r\n2024-05-01T12:00:00.000000003Z last')),
    ...parser.end(),
  ];
  t.same(got, [
    { stream: 'stdout', timestamp: '2024-05-01T12:00:00.000000001Z', text: 'first' },
    { stream: 'stdout', timestamp: '2024-05-01T12:00:00.000000002Z', text: 'second' },
    { stream: 'stdout', timestamp: '2024-05-01T12:00:00.000000003Z', text: 'last' },
  ]);
});

t.test('stored lines: format, parse, size, and cutting a line that cannot fit', async (t) => {
  const line = { timestamp: '2024-05-01T12:00:00.000000001Z', stream: 'stderr' as const, text: 'a b  c\tü' };
  const stored = formatStoredLine(line);
  t.equal(stored, '2024-05-01T12:00:00.000000001Z e a b  c\tü\n');
  t.equal(Buffer.byteLength(stored), storedLineBytes(line));
  t.same(parseStoredLine(stored.slice(0, -1)), line);
  t.same(parseStoredLine('2024-05-01T12:00:00.000000001Z o '), { ...line, stream: 'stdout', text: '' });
  t.equal(parseStoredLine('2024-05-01T12:00:00.000000001Z x hello'), undefined, 'an unknown stream code');
  t.equal(parseStoredLine('garbage'), undefined);
  const long = { ...line, text: '✓'.repeat(100) }; // 3 bytes each
  const cut = truncateToFit(long, 100);
  t.ok(storedLineBytes(cut) <= 100, 'fits');
  t.ok(long.text.startsWith(cut.text) && cut.text.length > 0, 'a prefix of the line, whole characters only');
  t.equal(truncateToFit(line, 1000), line, 'a line that fits is untouched');
});

t.test('a resumed copy drops exactly the lines already stored, even within one nanosecond', async (t) => {
  const at = (ts: number, text: string) => ({ stream: 'stdout' as const, timestamp: `2024-05-01T12:00:0${ts}.000000000Z`, text });
  // Stored: …, b@1, c@2, d@2. The engine resends from second 1 on.
  const filter = new ResumeFilter({ timestamp: '2024-05-01T12:00:02.000000000Z', count: 2 });
  const fresh = filter.fresh([at(1, 'b'), at(2, 'c'), at(2, 'd'), at(2, 'e'), at(3, 'f')]);
  t.same(fresh.map((l) => l.text), ['e', 'f']);
  t.same(filter.point(), { timestamp: '2024-05-01T12:00:03.000000000Z', count: 1 });
  filter.restart();
  t.same(filter.fresh([at(2, 'e'), at(3, 'f'), at(3, 'g')]).map((l) => l.text), ['g'], 'and again after a second resume');
  t.same(new ResumeFilter(undefined).fresh([at(1, 'x')]).map((l) => l.text), ['x'], 'nothing stored: everything is new');
});

t.test('--since takes RFC 3339 times and durations', async (t) => {
  const now = Date.parse('2024-05-01T12:00:00.000Z');
  t.same(parseSince('10m', now), { seconds: String(now / 1000 - 600), nanos: 0 });
  t.same(parseSince('1h30m', now), { seconds: String(now / 1000 - 5400), nanos: 0 });
  t.same(parseSince('1.5s', now), { seconds: String(now / 1000 - 2), nanos: 500_000_000 });
  t.same(parseSince('2024-05-01T10:00:00.25Z', now), { seconds: String(Date.parse('2024-05-01T10:00:00Z') / 1000), nanos: 250_000_000 });
  t.same(parseSince('2024-05-01T12:00:00+02:00', now), { seconds: String(Date.parse('2024-05-01T10:00:00Z') / 1000), nanos: 0 });
  t.throws(() => parseSince('yesterday', now), /not an RFC 3339 time/);
  t.throws(() => parseSince('10', now), /not an RFC 3339 time/);
});
