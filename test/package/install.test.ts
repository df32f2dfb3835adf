/**
 * Installs the .deb into a clean Debian 12 root (debootstrap minbase; its
 * dependencies come from Debian's mirror through apt), runs the daemon with
 * its unit's ExecStart against the harness engine, launches a task through
 * its socket, upgrades to a second build with the task still running, then
 * removes and purges. Gated: TEST_DEB_INSTALL=1 (minutes on the first run,
 * which debootstraps; the root and apt's downloads are cached under
 * /var/cache/titus-executor-test). No systemd runs in the root, so the test
 * does what the units and maintainer scripts' systemctl calls would.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useHarness, type Harness } from '../harness/index.js';
import { PACKAGE_VERSION, buildDeb, unitSettings } from './build-deb.js';
import { ensureRootTarball, unpackRoot, type DebianRoot } from './debian-root.js';

const GATED = process.env['TEST_DEB_INSTALL'] === '1';
// The first run debootstraps; tell the runner not to stop this file at its usual limit.
if (GATED) t.setTimeout(1_800_000);
const SOCKET = '/run/titus-executor/executor.sock';
const TASK = 'deb-install-task';

const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

const exited = (p: ChildProcess): Promise<number | null> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));

t.test('install, run, upgrade with a running task, remove, purge on a clean Debian 12', { skip: GATED ? false : 'set TEST_DEB_INSTALL=1 to run' }, async (t) => {
  const timings: string[] = [];
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const result = await fn();
    timings.push(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  };
  const dir = mkdtempSync('/var/tmp/titus-deb-install-');
  let daemon: ChildProcess | undefined;
  let h: Harness | undefined;
  t.teardown(async () => {
    daemon?.kill('SIGKILL');
    if (daemon !== undefined) await exited(daemon);
    await h?.docker(['rm', '-f', TASK], { allowFailure: true });
    rmSync(dir, { recursive: true, force: true }); // the root's mounts only ever existed in private namespaces
    t.comment(timings.join('\n'));
  });

  const debootstrapSeconds = await timed('root tarball (debootstrap when not cached)', ensureRootTarball);
  if (debootstrapSeconds > 0) t.comment(`debootstrap took ${debootstrapSeconds} s`);
  const [first, second] = await timed('two package builds', () =>
    Promise.all([buildDeb(join(dir, 'v1'), { version: `${PACKAGE_VERSION}+test1` }), buildDeb(join(dir, 'v2'), { version: `${PACKAGE_VERSION}+test2` })]),
  );
  h = await timed('harness engine', () => useHarness(t));
  const root: DebianRoot = await timed('unpack root', () => unpackRoot(dir, h?.dockerSocket ?? ''));
  copyFileSync(first.path, root.path('/tmp/v1.deb'));
  copyFileSync(second.path, root.path('/tmp/v2.deb'));

  const startDaemon = (): ChildProcess => {
    // The unit's own command line, as systemd would run it.
    const unit = unitSettings(readFileSync(root.path('/lib/systemd/system/titus-executor.service'), 'utf8'));
    const execStart = (unit.get('ExecStart') ?? '').split(/\s+/);
    const p = root.spawn(execStart);
    p.stderr?.resume();
    p.stdout?.resume();
    return p;
  };
  const stopDaemon = async (p: ChildProcess): Promise<void> => {
    p.kill('SIGTERM'); // KillSignal; KillMode=mixed reaches only this process
    t.equal(await exited(p), 0, 'the daemon exits cleanly on SIGTERM');
  };
  const socketUp = (): boolean => existsSync(root.path(SOCKET)) && statSync(root.path(SOCKET)).isSocket();
  const containerRunning = async (): Promise<boolean> => {
    const r = await h?.docker(['inspect', '-f', '{{.State.Running}}', TASK], { allowFailure: true });
    return r?.stdout.trim() === 'true';
  };
  const groupLine = async (): Promise<string> => (await root.run(['getent', 'group', 'titus-executor'], { allowFailure: true })).stdout.trim();

  // Install: dependencies (docker.io, iproute2, nftables, libstdc++6, ...) from the mirror.
  await timed('apt-get update', () => root.run(['apt-get', 'update', '-qq']));
  await timed('install v1 with its dependencies', () => root.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', '/tmp/v1.deb']));
  t.match((await root.run(['titus-executor', '--version'])).stdout.trim(), new RegExp(`^${PACKAGE_VERSION.replaceAll('.', '\\.')}\\+test1 \\(([0-9a-f]{12}(-dirty)?|unknown)\\)$`));
  t.match(await groupLine(), /^titus-executor:x:\d+:$/, 'the socket group exists');
  t.notOk(existsSync(root.path('/usr/bin/node')), 'no nodejs package was needed');

  // The daemon, as titus-executor.service runs it, against the harness engine at /run/docker.sock.
  daemon = startDaemon();
  await timed('daemon ready', () => waitFor('the executor socket', socketUp));
  const gid = Number((await groupLine()).split(':')[2]);
  t.equal(statSync(root.path(SOCKET)).gid, gid, 'the socket belongs to the titus-executor group');

  // A task through the socket, with the installed CLI.
  await timed('launch a task', () => root.run(['titus-executor', 'launch', '--task-id', TASK, '--image', h?.images.busybox ?? '', '--', 'sleep', '600']));
  t.ok(await containerRunning(), 'the task runs');

  // The per-task mode from the package, with the packaged config.
  writeFileSync(root.path('/tmp/ci.json'), JSON.stringify({ fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['echo', 'from run-task'] } }));
  const rt = await root.run(['titus-executor', 'run-task', '--task-id', 'deb-run-task', '--container-info', '/tmp/ci.json'], { allowFailure: true });
  t.equal(rt.code, 0, 'run-task: FINISHED', { stderr: rt.stderr });
  t.match(rt.stdout.trim().split('\n').at(-1) ?? '', /"state":"TASK_STATE_FINISHED"/);

  // Upgrade: the admin's config change and the state survive, the task keeps running.
  const config = root.path('/etc/titus-executor/config.yaml');
  writeFileSync(config, readFileSync(config, 'utf8').replace(/^logLevel: info$/m, 'logLevel: debug'));
  writeFileSync(root.path('/var/lib/titus-executor/marker'), 'state');
  await timed('upgrade to v2', () => root.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', '/tmp/v2.deb']));
  t.match((await root.run(['titus-executor', '--version'])).stdout, /\+test2 /);
  t.match(readFileSync(config, 'utf8'), /^logLevel: debug$/m, 'the modified conffile is kept (no prompt: stdin is closed)');
  t.ok(existsSync(root.path('/var/lib/titus-executor/marker')), 'state is kept');
  t.ok(await containerRunning(), 'the task survived the upgrade');
  // postinst's `deb-systemd-invoke restart`:
  await stopDaemon(daemon);
  t.ok(await containerRunning(), 'the task survived the daemon stopping');
  daemon = startDaemon();
  await waitFor('the upgraded executor socket', socketUp);
  t.equal((await root.run(['titus-executor', 'ps'], { allowFailure: true })).code, 0, 'the upgraded daemon serves');
  t.ok(await containerRunning(), 'the task survived the restart');

  // Remove: prerm stops the daemon; config, state and group stay.
  await stopDaemon(daemon);
  daemon = undefined;
  await timed('remove', () => root.run(['apt-get', 'remove', '-y', '-qq', 'titus-executor']));
  t.notOk(existsSync(root.path('/usr/bin/titus-executor')), 'the command is gone');
  t.notOk(existsSync(root.path('/usr/lib/titus-executor')), 'the app is gone');
  t.ok(existsSync(config), 'the config is kept');
  t.ok(existsSync(root.path('/var/lib/titus-executor/marker')), 'the state is kept');
  t.not(await groupLine(), '', 'the group is kept');

  // Purge: everything else goes.
  writeFileSync(root.path('/etc/titus-executor/oci-hooks.json'), '{}'); // as the daemon writes it on GPU hosts
  await timed('purge', () => root.run(['apt-get', 'purge', '-y', '-qq', 'titus-executor']));
  t.notOk(existsSync(root.path('/etc/titus-executor')), 'the config is gone');
  t.notOk(existsSync(root.path('/var/lib/titus-executor')), 'the state is gone');
  t.equal(await groupLine(), '', 'the group is gone');
  t.ok(await containerRunning(), 'tasks are never stopped by the package');
});
