/** The drain flag on disk: persisted atomically, kept across restarts, and fail-safe when unreadable. */
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { DrainSwitch } from '../../src/host/drain-switch.js';

const stateDir = (t: { teardown(fn: () => unknown): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'drain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'state'); // not created yet, as on a fresh host
};

t.test('a fresh host is not draining, and nothing is written until someone drains it', async (t) => {
  const dir = stateDir(t);
  const d = new DrainSwitch(dir, silentLogger());
  t.same(d.status(), { draining: false, reason: '', sinceMs: 0 });
  t.doesNotThrow(() => d.refuseIfDraining());
  t.throws(() => readdirSync(dir), { code: 'ENOENT' }, 'no state directory made just by reading');
});

t.test('on, on again, off: persisted at once, since kept while it stays on, read back by a new instance', async (t) => {
  const dir = stateDir(t);
  const d = new DrainSwitch(dir, silentLogger());
  const on = d.set(true, 'kernel upgrade', 1_700_000_000_000);
  t.same(on, { draining: true, reason: 'kernel upgrade', sinceMs: 1_700_000_000_000 });
  t.same(JSON.parse(readFileSync(join(dir, 'drain.json'), 'utf8')), on, 'on disk before set() returns');
  t.throws(() => d.refuseIfDraining(), {
    code: 'UNAVAILABLE',
    message: /^this host is draining since 2023-11-14T22:13:20\.000Z: kernel upgrade; .*titus-executor drain off/,
  });
  t.same(d.set(true, '', 1_700_000_100_000), on, 'draining again keeps since and the reason');
  t.same(d.set(true, 'kernel upgrade, then reboot', 1_700_000_200_000).sinceMs, on.sinceMs, 'a new reason, the same since');
  t.same(new DrainSwitch(dir, silentLogger()).status(), { draining: true, reason: 'kernel upgrade, then reboot', sinceMs: on.sinceMs }, 'a restarted executor is still drained');
  const off = d.set(false, 'done', 1_700_000_300_000);
  t.same(off, { draining: false, reason: 'done', sinceMs: 1_700_000_300_000 });
  t.doesNotThrow(() => d.refuseIfDraining());
  t.same(new DrainSwitch(dir, silentLogger()).status(), off);
  t.same(readdirSync(dir), ['drain.json'], 'no temporary files left behind');
});

t.test('a refusal without a reason says so', async (t) => {
  const d = new DrainSwitch(stateDir(t), silentLogger());
  d.set(true, '', 0 + 1);
  t.throws(() => d.refuseIfDraining(), { code: 'UNAVAILABLE', message: /\(no reason given\)/ });
});

t.test('an unreadable or tampered drain file leaves the host drained, saying how to clear it', async (t) => {
  for (const [what, content] of [
    ['torn JSON', '{"draining": fal'],
    ['wrong types', '{"draining":"no","reason":"","sinceMs":0}'],
    ['unknown keys', '{"draining":false,"reason":"","sinceMs":0,"extra":1}'],
  ] as const) {
    const dir = stateDir(t);
    new DrainSwitch(dir, silentLogger()).set(false, '', 1); // creates the directory
    writeFileSync(join(dir, 'drain.json'), content);
    const d = new DrainSwitch(dir, silentLogger());
    t.equal(d.status().draining, true, what);
    t.match(d.status().reason, /could not be read .*titus-executor drain off/, what);
    t.same(d.set(false, 'checked', 5), { draining: false, reason: 'checked', sinceMs: 5 }, 'drain off clears it');
    t.equal(new DrainSwitch(dir, silentLogger()).status().draining, false);
  }
});

t.test('a drain state that cannot be written is FAILED_PRECONDITION and changes nothing', async (t) => {
  const dir = stateDir(t);
  new DrainSwitch(dir, silentLogger()).set(false, '', 1);
  writeFileSync(join(dir, 'not-a-dir'), '');
  const d = new DrainSwitch(join(dir, 'not-a-dir', 'state'), silentLogger()); // ENOTDIR, even for root
  const before = d.status();
  t.equal(before.draining, true, 'a state directory that cannot be read leaves the host drained');
  t.throws(() => d.set(false, 'x'), { code: 'FAILED_PRECONDITION', message: /cannot write the drain state to .*not-a-dir\/state\/drain\.json .*it is unchanged/ });
  t.same(d.status(), before, 'unchanged');
});
