/**
 * The log store's reading side and retention on real files (the copying side
 * needs an engine: test/logs/task-logs.test.ts). Lines are written as a
 * collector would, with the same writer.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { isExecutorError } from '../../src/common/errors.js';
import { TaskLogStore, type TaskLogStoreOptions } from '../../src/logs/task-log-store.js';
import { RotatingLogWriter } from '../../src/logs/rotating-writer.js';
import type { LogLine, LogQuery } from '../../src/logs/types.js';
import type { StoredLine } from '../../src/logs/stored-line.js';
import { timestampFromMs } from '../../src/runtime/output-timestamp.js';

const HOUR = 3_600_000;

const setup = async (
  t: { teardown(fn: () => unknown): void },
  options: Partial<TaskLogStoreOptions> = {},
): Promise<{ stateDir: string; store: TaskLogStore; write(taskId: string, lines: StoredLine[]): Promise<void> }> => {
  const stateDir = mkdtempSync(join(tmpdir(), 'titus-logstore-'));
  const store = new TaskLogStore({
    stateDir,
    maxFileBytes: 1_000_000,
    maxFiles: 2,
    retentionMs: HOUR,
    sweepIntervalMs: HOUR,
    finishTimeoutMs: 1000,
    // Nothing here copies from an engine; a call would be a bug in the test.
    source: {
      followOutput: () => {
        throw new Error('no engine in this test');
      },
    },
    log: silentLogger(),
    ...options,
  });
  await store.start();
  t.teardown(async () => {
    await store.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const write = async (taskId: string, lines: StoredLine[]): Promise<void> => {
    const writer = await RotatingLogWriter.open(join(stateDir, 'logs', taskId), { maxFileBytes: 1_000_000, maxFiles: 2 });
    await writer.append(lines);
    await writer.close();
  };
  return { stateDir, store, write };
};

const T0 = Date.parse('2024-05-01T12:00:00Z');
const line = (i: number, stream: 'stdout' | 'stderr' = 'stdout'): StoredLine => ({ timestamp: timestampFromMs(T0 + i * 1000), stream, text: `line ${i}` });

const collect = async (lines: AsyncIterable<readonly LogLine[]>): Promise<LogLine[]> => {
  const out: LogLine[] = [];
  for await (const batch of lines) out.push(...batch);
  return out;
};

/** The ExecutorError code a read fails with (undefined: it did not fail). */
const failure = async (lines: AsyncIterable<readonly LogLine[]>): Promise<{ code?: string; message?: string } | undefined> => {
  try {
    await collect(lines);
    return undefined;
  } catch (err) {
    return isExecutorError(err) ? { code: err.code, message: err.message } : { message: String(err) };
  }
};

const eventually = async (check: () => boolean, ms = 2000): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (check()) return true;
  return check();
};

const query = (q: Partial<LogQuery> = {}): LogQuery => ({ follow: false, signal: new AbortController().signal, ...q });

t.test('reads every line, the last N, or those since a time; times and streams as stored', async (t) => {
  const { store, write } = await setup(t);
  await write('task-a', [line(0), line(1, 'stderr'), line(2), line(3, 'stderr')]);
  const all = await collect(store.read('task-a', query()));
  t.same(all, [
    { timestampMs: T0, stream: 'stdout', text: 'line 0' },
    { timestampMs: T0 + 1000, stream: 'stderr', text: 'line 1' },
    { timestampMs: T0 + 2000, stream: 'stdout', text: 'line 2' },
    { timestampMs: T0 + 3000, stream: 'stderr', text: 'line 3' },
  ]);
  t.same((await collect(store.read('task-a', query({ tailLines: 2 })))).map((l) => l.text), ['line 2', 'line 3']);
  t.same((await collect(store.read('task-a', query({ sinceMs: T0 + 1000 })))).map((l) => l.text), ['line 1', 'line 2', 'line 3']);
  t.same((await collect(store.read('task-a', query({ sinceMs: T0 + 1000, tailLines: 10 })))).map((l) => l.text), ['line 1', 'line 2', 'line 3']);
  t.same((await collect(store.read('task-a', query({ sinceMs: T0 + 1001, tailLines: 1 })))).map((l) => l.text), ['line 3']);
});

t.test('large reads come in batches of at most 1000 lines', async (t) => {
  const { store, write } = await setup(t);
  await write('big', Array.from({ length: 2500 }, (_, i) => line(i)));
  const sizes: number[] = [];
  for await (const batch of store.read('big', query())) sizes.push(batch.length);
  t.same(sizes.reduce((a, b) => a + b, 0), 2500);
  t.ok(sizes.every((s) => s <= 1000), `batches: ${sizes.join(',')}`);
});

t.test('NOT_FOUND for a task with no logs, saying why there may be none', async (t) => {
  const { store } = await setup(t);
  for (const id of ['never-ran', '..', 'a/b']) {
    t.match(await failure(store.read(id, query())), { code: 'NOT_FOUND', message: /no logs are kept on this host for task .*past retention/ }, id);
  }
});

t.test('a follower gets new lines and stops when the task has ended, also when only a marker on disk says so', async (t) => {
  const { stateDir, store, write } = await setup(t);
  await write('live', [line(0)]);
  const got: string[] = [];
  const following = (async () => {
    for await (const batch of store.read('live', query({ follow: true }))) got.push(...batch.map((l) => l.text));
  })();
  await new Promise((r) => setTimeout(r, 300));
  t.same(got, ['line 0'], 'what is there comes first');
  await write('live', [line(1)]);
  await new Promise((r) => setTimeout(r, 1500)); // no collector here to wake it: the poll finds the line
  t.same(got, ['line 0', 'line 1'], 'a new line arrives');
  store.ended('live', Date.now());
  await following;
  t.same(got, ['line 0', 'line 1'], 'and the follow ends');
  t.ok(await eventually(() => existsSync(join(stateDir, 'logs', 'live', 'ended'))), 'the end is recorded on disk');

  // A store started later (an executor restart) knows the task ended from the marker alone.
  await write('ended-earlier', [line(0)]);
  writeFileSync(join(stateDir, 'logs', 'ended-earlier', 'ended'), JSON.stringify({ endedAtMs: Date.now() }));
  const started = Date.now();
  t.same((await collect(store.read('ended-earlier', query({ follow: true })))).map((l) => l.text), ['line 0']);
  // Under the follow poll (1 s): it did not wait for one, with room for a loaded machine.
  t.ok(Date.now() - started < 900, 'returns at once, without waiting for news');
});

t.test('a follower is ended by its abort signal and by the store stopping', async (t) => {
  const { store, write } = await setup(t);
  await write('forever', [line(0)]);
  const abort = new AbortController();
  const aborted = collect(store.read('forever', query({ follow: true, signal: abort.signal })));
  const stopped = collect(store.read('forever', query({ follow: true })));
  await new Promise((r) => setTimeout(r, 200));
  abort.abort();
  t.same((await aborted).map((l) => l.text), ['line 0']);
  await store.stop();
  t.same((await stopped).map((l) => l.text), ['line 0']);
});

t.test('retention: logs are removed once the task ended longer ago than retentionMs, not before, and never while it runs', async (t) => {
  const { stateDir, store, write } = await setup(t);
  await write('old', [line(0)]);
  await write('recent', [line(0)]);
  await write('running', [line(0)]);
  const now = Date.now();
  store.ended('old', now - 2 * HOUR);
  store.ended('recent', now - HOUR / 2);
  t.ok(await eventually(() => ['old', 'recent'].every((id) => existsSync(join(stateDir, 'logs', id, 'ended')))), 'the markers are written (in the background)');
  t.same(JSON.parse(readFileSync(join(stateDir, 'logs', 'old', 'ended'), 'utf8')), { endedAtMs: now - 2 * HOUR });
  t.same(await store.sweep(now), ['old']);
  t.notOk(existsSync(join(stateDir, 'logs', 'old')), 'removed from disk');
  t.match(await failure(store.read('old', query())), { code: 'NOT_FOUND' }, 'and no longer served');
  t.same(await store.sweep(now + 10 * HOUR), ['recent'], 'the other one when its time has come; the running task is kept');
  t.ok(existsSync(join(stateDir, 'logs', 'running')));
  // A marker a person or a disk fault garbled still ends the task (its file time stands in).
  writeFileSync(join(stateDir, 'logs', 'running', 'ended'), 'not json');
  t.same(await store.sweep(Date.now() + 2 * HOUR), ['running']);
});

t.test('a task that never ran a container gets no directory when it ends', async (t) => {
  const { stateDir, store } = await setup(t);
  store.ended('never-started', Date.now());
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(existsSync(join(stateDir, 'logs', 'never-started')));
});

t.test('the sweeper runs on its own at start and on its interval', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'titus-logstore-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  const dir = (id: string): string => join(stateDir, 'logs', id);
  for (const id of ['at-start', 'later']) {
    const writer = await RotatingLogWriter.open(dir(id), { maxFileBytes: 10_000, maxFiles: 2 });
    await writer.append([line(0)]);
    await writer.close();
  }
  writeFileSync(join(dir('at-start'), 'ended'), JSON.stringify({ endedAtMs: Date.now() - 10_000 }));
  writeFileSync(join(dir('later'), 'ended'), JSON.stringify({ endedAtMs: Date.now() }));
  const store = new TaskLogStore({
    stateDir,
    maxFileBytes: 10_000,
    maxFiles: 2,
    retentionMs: 1000,
    sweepIntervalMs: 200,
    finishTimeoutMs: 1000,
    source: { followOutput: () => { throw new Error('no engine in this test'); } },
    log: silentLogger(),
  });
  await store.start();
  t.teardown(() => store.stop());
  t.notOk(existsSync(dir('at-start')), 'expired logs from before the start are removed by start()');
  t.ok(existsSync(dir('later')));
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(existsSync(dir('later')), 'the interval sweep removed the other once its retention passed');
});
