/**
 * The .deb: built by scripts/package.sh, its metadata and file list checked
 * with dpkg-deb, its contents run from an extracted copy, and linted with
 * lintian (warnings and errors fail; debian/lintian-overrides explains the
 * few that are accepted).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/common/command-runner.js';
import { parseConfig } from '../../src/config/config.js';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_VERSION, REPO, buildDeb, dpkgDeb, unitSettings, type BuiltDeb } from './build-deb.js';

const APP = './usr/lib/titus-executor';
let dir: string;
let deb: BuiltDeb;
let files: string[];
let extracted: string;

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'titus-deb-'));
  deb = await buildDeb(join(dir, 'out'));
  t.comment(`package build: ${deb.seconds.toFixed(1)} s`);
  files = (await dpkgDeb('-c', deb.path)).split('\n').map((l) => l.split(/\s+/).slice(5).join(' ').replace(/ -> .*$/, '')).filter((f) => f !== '');
  extracted = join(dir, 'x');
  await dpkgDeb('-x', deb.path, extracted);
});
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const field = async (name: string): Promise<string> => (await dpkgDeb('-f', deb.path, name)).trim();

t.test('control: name, version, architecture, dependencies', async (t) => {
  t.match(deb.path, new RegExp(`titus-executor_${PACKAGE_VERSION.replaceAll('.', '\\.')}_amd64\\.deb$`));
  t.equal(await field('Package'), 'titus-executor');
  t.equal(await field('Version'), PACKAGE_VERSION);
  t.equal(await field('Architecture'), 'amd64');
  const depends = (await field('Depends')).split(/,\s*/);
  for (const d of ['docker.io | docker-ce', 'iproute2', 'nftables', 'adduser']) t.ok(depends.includes(d), `Depends: ${d}`);
  t.ok(depends.some((d) => /^libc6 \(>= 2\.\d+\)$/.test(d)), 'the bundled node’s libraries, from dpkg-shlibdeps');
  t.notOk(depends.some((d) => d.startsWith('nodejs')), 'no nodejs: the runtime is bundled');
  t.match(await dpkgDeb('-I', deb.path, 'conffiles'), /^\/etc\/titus-executor\/config\.yaml$/m);
  for (const script of ['postinst', 'prerm', 'postrm']) t.match(await dpkgDeb('-I', deb.path, script), /^#!\/bin\/sh/, script);
});

t.test('files: command, units, config, app, runtime, state dir', async (t) => {
  const expected = [
    './usr/bin/titus-executor',
    './lib/systemd/system/titus-executor.service',
    './lib/systemd/system/titus-executor@.service',
    './usr/lib/tmpfiles.d/titus-executor.conf',
    './etc/titus-executor/config.yaml',
    './var/lib/titus-executor/',
    `${APP}/node`,
    `${APP}/package.json`,
    `${APP}/bin/titus-executor.js`,
    `${APP}/dist/src/cli/main.js`,
    `${APP}/dist/src/cli/run-task.js`,
    `${APP}/proto/titus/executor/v1/executor.proto`,
    `${APP}/proto/netflix/titus/agent.proto`,
    `${APP}/security/seccomp/fuse.json`,
    `${APP}/security/seccomp/image-building.json`,
    './usr/share/doc/titus-executor/copyright',
    './usr/share/doc/titus-executor/changelog.gz',
    './usr/share/man/man1/titus-executor.1.gz',
  ];
  for (const f of expected) t.ok(files.includes(f), f);
  t.notOk(files.some((f) => f.startsWith(`${APP}/src/`) || f.startsWith(`${APP}/test/`) || f.endsWith('.ts')), 'no TypeScript');
});

t.test('node_modules: every production dependency, no development one', async (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of Object.keys(pkg.dependencies)) t.ok(files.includes(`${APP}/node_modules/${name}/package.json`), name);
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const devOnly = Object.entries(lock.packages).filter(([path, p]) => path !== '' && p.dev === true).map(([path]) => `${APP}/${path}/`);
  t.ok(devOnly.some((p) => p.endsWith('/node_modules/tap/')) && devOnly.some((p) => p.endsWith('/node_modules/typescript/')), 'the lockfile marks tap and typescript as dev');
  const leaked = files.filter((f) => devOnly.some((d) => f.startsWith(d)));
  t.same(leaked.slice(0, 10), [], 'no file of a development-only package');
  t.notOk(files.some((f) => f.includes('/node_modules/.bin/')), 'no .bin links');
});

t.test('the extracted package runs: --version prints the version and the commit', async (t) => {
  const app = join(extracted, 'usr/lib/titus-executor');
  const { stdout } = await runCommand([join(app, 'node'), join(app, 'bin/titus-executor.js'), '--version']);
  const staged = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { version: string; gitCommit: string; devDependencies?: unknown };
  t.match(staged.gitCommit, /^([0-9a-f]{12}(-dirty)?|unknown)$/);
  t.equal(stdout.trim(), `${PACKAGE_VERSION} (${staged.gitCommit})`);
  t.equal(staged.devDependencies, undefined);
  const wrapper = readFileSync(join(extracted, 'usr/bin/titus-executor'), 'utf8');
  t.match(wrapper, /^exec \/usr\/lib\/titus-executor\/node \/usr\/lib\/titus-executor\/bin\/titus-executor\.js "\$@"$/m);
});

t.test('the conffile is debian/config.yaml and matches the units', async (t) => {
  const shipped = readFileSync(join(extracted, 'etc/titus-executor/config.yaml'), 'utf8');
  t.equal(shipped, readFileSync(join(REPO, 'debian/config.yaml'), 'utf8'));
  const config = parseConfig(parseYaml(shipped));
  t.match(await dpkgDeb('-I', deb.path, 'postinst'), new RegExp(`addgroup --system --quiet ${config.api.socketGroup ?? 'none'}`), 'postinst creates the socket group');
  t.match(await dpkgDeb('-I', deb.path, 'postinst'), new RegExp(`addgroup --system --quiet ${config.interlink.socketGroup ?? 'none'}`), 'and the interLink plugin socket’s group');

  const daemon = unitSettings(readFileSync(join(extracted, 'lib/systemd/system/titus-executor.service'), 'utf8'));
  t.equal(daemon.get('ExecStart'), '/usr/bin/titus-executor serve --config /etc/titus-executor/config.yaml');
  t.equal(daemon.get('Type'), 'notify');
  t.equal(daemon.get('Restart'), 'on-failure');
  t.equal(daemon.get('KillMode'), 'mixed', 'task containers are dockerd’s; never KillMode=control-group surprises');
  t.match(daemon.get('After') ?? '', /docker\.service/);

  const perTask = unitSettings(readFileSync(join(extracted, 'lib/systemd/system/titus-executor@.service'), 'utf8'));
  t.match(perTask.get('ExecStart') ?? '', /^\/usr\/bin\/titus-executor run-task --task-id %i --container-info \/run\/titus-executor\/%i\/container-info /);
  t.equal(perTask.get('RemainAfterExit'), 'yes');
  t.equal(perTask.get('KillSignal'), 'SIGTERM');
  t.equal(perTask.get('EnvironmentFile'), '-/run/titus-executor/%i/resources.env');
  const stopSeconds = Number((perTask.get('TimeoutStopSec') ?? '').replace(/s$/, ''));
  t.ok(stopSeconds > config.container.maxKillWaitSeconds + 30, `TimeoutStopSec ${stopSeconds} s outlasts the longest grace period`);

  // Titus' per-task contract (docs/titus-contract.md): pod.json in, state.json out, in a private runtime dir.
  const perPod = unitSettings(readFileSync(join(extracted, 'lib/systemd/system/titus-executor-pod@.service'), 'utf8'));
  t.equal(perPod.get('ExecStart'), '/usr/bin/titus-executor run-task --runtime-dir /run/titus-executor/%i');
  t.equal(perPod.get('RuntimeDirectory'), 'titus-executor/%i');
  t.equal(perPod.get('RuntimeDirectoryMode'), '0700');
  t.equal(perPod.get('RemainAfterExit'), 'yes', 'state.json stays readable after the task ends');
  t.equal(perPod.get('Type'), 'notify');
});

t.test('lintian: no errors or warnings beyond the explained overrides', async (t) => {
  const started = Date.now();
  const r = await runCommand(['lintian', '--fail-on', 'error,warning', deb.path], { timeoutMs: 600_000, allowFailure: true });
  t.comment(`lintian: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const findings = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^[EW]: /.test(l));
  t.same(findings, []);
  t.equal(r.code, 0, r.stderr);
});
