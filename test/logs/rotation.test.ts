/**
 * The files of one task's logs, with real files in a temp directory: the size
 * cap and rotation, a torn last line after a crash, the resume point, and a
 * reader that follows the files while they are written and rotated.
 */
import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingLogWriter } from '../../src/logs/rotating-writer.js';
import { readResumePoint } from '../../src/logs/resume-point.js';
import { LogCursor } from '../../src/logs/log-cursor.js';
import { listLogFiles } from '../../src/logs/log-files.js';
import { parseStoredLine, type StoredLine } from '../../src/logs/stored-line.js';

const tempDir = (t: { teardown(fn: () => void): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-logs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const lineAt = (i: number, stream: 'stdout' | 'stderr' = 'stdout', nanos = 0): StoredLine => ({
  timestamp: new Date(Date.parse('2024-05-01T12:00:00Z') + i * 1000).toISOString().replace(/\.\d{3}Z$/, `.${String(nanos).padStart(9, '0')}Z`),
  stream,
  text: `line ${String(i).padStart(5, '0')} ${'x'.repeat(40)}`,
});

/** Every line in the files, oldest first. */
const readAll = (dir: string): StoredLine[] =>
  readdirSync(dir)
    .filter((n) => n.startsWith('output.log'))
    .sort((a, b) => Number(b.split('.')[2] ?? 0) - Number(a.split('.')[2] ?? 0))
    .flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter((l) => l !== ''))
    .map((l) => parseStoredLine(l) as StoredLine);

t.test('rotation keeps every file under the cap, at most maxFiles files, and the newest lines in order', async (t) => {
  const dir = tempDir(t);
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 1000, maxFiles: 3 });
  for (let i = 0; i < 200; i += 7) await writer.append(Array.from({ length: 7 }, (_, k) => lineAt(i + k, k % 2 === 0 ? 'stdout' : 'stderr')));
  await writer.close();
  const names = readdirSync(dir).sort();
  t.same(names, ['output.log', 'output.log.1', 'output.log.2'], 'three files');
  for (const n of names) t.ok(statSync(join(dir, n)).size <= 1000, `${n} is within the cap`);
  const lines = readAll(dir);
  const numbers = lines.map((l) => Number(l.text.split(' ')[1]));
  t.equal(numbers.at(-1), 202, 'the newest line is kept');
  t.same(numbers, numbers.map((_, i) => (numbers[0] ?? 0) + i), 'the kept lines are consecutive: nothing lost in the middle');
  t.ok(lines.length >= 2 * Math.floor(1000 / 75), 'the rotated files are full');
  t.equal(lines[1]?.stream, numbers[1]! % 7 % 2 === 0 ? 'stdout' : 'stderr', 'the stream is kept');
});

t.test('maxFiles 1 starts over; a lowered maxFiles drops the older files at the next open', async (t) => {
  const dir = tempDir(t);
  const three = await RotatingLogWriter.open(dir, { maxFileBytes: 500, maxFiles: 3 });
  for (let i = 0; i < 30; i++) await three.append([lineAt(i)]);
  await three.close();
  t.equal(readdirSync(dir).length, 3);
  const one = await RotatingLogWriter.open(dir, { maxFileBytes: 500, maxFiles: 1 });
  t.same(readdirSync(dir), ['output.log'], 'the rotated files went');
  for (let i = 30; i < 60; i++) await one.append([lineAt(i)]);
  await one.close();
  t.same(readdirSync(dir), ['output.log']);
  t.equal(readAll(dir).at(-1)?.text.split(' ')[1], '00059');
});

t.test('a line longer than a whole file is cut to fit', async (t) => {
  const dir = tempDir(t);
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 4096, maxFiles: 2 });
  await writer.append([{ ...lineAt(1), text: 'y'.repeat(10_000) }, lineAt(2)]);
  await writer.close();
  const lines = readAll(dir);
  t.equal(lines.length, 2);
  t.ok((lines[0]?.text.length ?? 0) > 4000 && (lines[0]?.text.length ?? 0) < 4096, 'cut, not dropped');
  for (const n of readdirSync(dir)) t.ok(statSync(join(dir, n)).size <= 4096);
});

t.test('a torn last line (a crash mid-write) is cut off when the file is opened again', async (t) => {
  const dir = tempDir(t);
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 100_000, maxFiles: 2 });
  await writer.append([lineAt(1), lineAt(2)]);
  await writer.close();
  appendFileSync(join(dir, 'output.log'), '2024-05-01T12:00:03.000000000Z o half a li');
  t.same(await readResumePoint(dir), { timestamp: lineAt(2).timestamp, count: 1 }, 'the resume point ignores the torn line');
  const again = await RotatingLogWriter.open(dir, { maxFileBytes: 100_000, maxFiles: 2 });
  await again.append([lineAt(3)]);
  await again.close();
  t.same(readAll(dir).map((l) => l.text), [lineAt(1).text, lineAt(2).text, lineAt(3).text], 'the next line does not run into it');
});

t.test('the resume point counts the stored lines at the last time, across a rotation', async (t) => {
  const dir = tempDir(t);
  t.equal(await readResumePoint(dir), undefined, 'nothing stored');
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 400, maxFiles: 3 });
  const sameTime = Array.from({ length: 7 }, (_, k) => ({ ...lineAt(9), text: `same ${k}` }));
  await writer.append([lineAt(1), lineAt(2), ...sameTime]);
  await writer.close();
  t.ok((await listLogFiles(dir)).length > 1, 'the lines at that time span a rotation');
  t.same(await readResumePoint(dir), { timestamp: lineAt(9).timestamp, count: 7 });
  // Long files: the backwards read goes across its 64 KiB blocks.
  const big = tempDir(t);
  const bigWriter = await RotatingLogWriter.open(big, { maxFileBytes: 10_000_000, maxFiles: 2 });
  const many = Array.from({ length: 5000 }, (_, k) => ({ ...lineAt(5), text: `${k} ${'z'.repeat(k % 50)}` }));
  await bigWriter.append([lineAt(4), ...many]);
  await bigWriter.close();
  t.same(await readResumePoint(big), { timestamp: lineAt(5).timestamp, count: 5000 });
});

t.test('a cursor reads on from where it stopped, across rotations, and waits for a line being written', async (t) => {
  const dir = tempDir(t);
  const writer = await RotatingLogWriter.open(dir, { maxFileBytes: 600, maxFiles: 4 });
  const cursor = new LogCursor(dir);
  t.teardown(() => cursor.close());
  const got: string[] = [];
  const readNew = async (): Promise<void> => {
    for await (const batch of cursor.readNew()) got.push(...batch.map((l) => l.text.split(' ')[1] ?? ''));
  };
  await readNew();
  t.same(got, [], 'nothing yet');
  let next = 0;
  // Up to 2 rotations between reads: a slow reader still gets every line.
  for (let round = 0; round < 20; round++) {
    const count = 1 + ((round * 5) % 17);
    await writer.append(Array.from({ length: count }, () => lineAt(next++)));
    await readNew();
  }
  await writer.close();
  t.same(got, Array.from({ length: next }, (_, i) => String(i).padStart(5, '0')), 'every line once, in order');
  // A line whose end is not written yet is not returned until it is.
  const other = tempDir(t);
  writeFileSync(join(other, 'output.log'), '');
  const fresh = new LogCursor(other);
  t.teardown(() => fresh.close());
  appendFileSync(join(other, 'output.log'), '2024-05-01T12:00:00.000000000Z o partial');
  const seen: string[] = [];
  for await (const b of fresh.readNew()) seen.push(...b.map((l) => l.text));
  t.same(seen, []);
  appendFileSync(join(other, 'output.log'), ' and the rest\n');
  for await (const b of fresh.readNew()) seen.push(...b.map((l) => l.text));
  t.same(seen, ['partial and the rest']);
});
