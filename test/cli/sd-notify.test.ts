/**
 * Readiness for the Type=notify units. A fake `systemd-notify` first on PATH
 * stands for systemd's (which would pass READY=1/STATUS= to the manager at
 * $NOTIFY_SOCKET): it records its arguments and whether the daemon's socket
 * existed when it was called.
 */
import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { silentLogger } from '../../src/common/log.js';
import { SystemdNotifier } from '../../src/common/sd-notify.js';
import { BIN, assertBuilt } from './run-task-process.js';

const dir = mkdtempSync(join(tmpdir(), 'titus-sd-notify-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const record = join(dir, 'calls');
const socket = join(dir, 'executor.sock');
writeFileSync(
  join(dir, 'systemd-notify'),
  `#!/bin/sh\nif [ -S '${socket}' ]; then up=socket-up; else up=socket-down; fi\necho "$up $*" >> '${record}'\n`,
);
chmodSync(join(dir, 'systemd-notify'), 0o755);
const env = { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}`, NOTIFY_SOCKET: join(dir, 'notify') };
const calls = (): string[] => (existsSync(record) ? readFileSync(record, 'utf8').trim().split('\n') : []);

t.test('outside systemd (no NOTIFY_SOCKET) nothing is sent', async (t) => {
  const n = new SystemdNotifier(silentLogger(), undefined);
  t.notOk(n.enabled);
  await n.notify({ ready: true });
  t.same(calls(), []);
});

t.test('serve reports READY=1 once its socket accepts calls', async (t) => {
  assertBuilt();
  const child = spawn(process.execPath, [BIN, '--socket', socket, 'serve', '--docker-host', `unix://${join(dir, 'no-engine.sock')}`, '--log-level', 'silent', '--state-dir', join(dir, 'state')], {
    env,
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const until = Date.now() + 30_000;
  while (!calls().some((c) => c.includes('--ready')) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  const ready = calls().find((c) => c.includes('--ready'));
  t.match(ready, /^socket-up --ready --status=serving on unix:\/\//, 'ready only after the socket is there');
});
