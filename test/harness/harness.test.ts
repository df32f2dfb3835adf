/**
 * The harness itself: a private engine and registry, real pulls of the test
 * images, and nothing left behind by stop() or by a dying test process.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { containersWithLabel, leftoversOf, startHarness, useHarness, type Harness } from './index.js';

const V2_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

const harnessDir = (h: Harness): string => dirname(h.dockerSocket);

/** What the registry itself says a tag points at. */
const registryDigest = async (h: Harness, repoPath: string, tag: string): Promise<string | null> => {
  const res = await fetch(`http://${h.registry}/v2/${repoPath}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: V2_MANIFEST },
  });
  return res.headers.get('docker-content-digest');
};

const registryAnswers = async (h: Harness): Promise<boolean> => {
  try {
    await fetch(`http://${h.registry}/v2/`, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
};

const runEcho = async (h: Harness, image: string, ...extra: string[]): Promise<string> =>
  (await h.docker(['run', '--rm', '--network', 'none', ...extra, image, 'echo', 'hi'])).stdout.trim();

const assertGone = async (t: Test, h: Harness, dir: string): Promise<void> => {
  const left = leftoversOf(dir);
  t.same(left.pids, [], 'no dockerd, containerd, shim, container or registry process left');
  t.same(left.mounts, [], 'nothing left mounted under the harness dir');
  t.notOk(existsSync(dir), 'harness dir removed');
  t.notOk(await registryAnswers(h), 'registry no longer answers');
};

t.test('one harness: pulls by tag and digest, runs, and stops cleanly', async (t) => {
  const started = Date.now();
  const h = await useHarness(t);
  t.comment(`harness start-up took ${Date.now() - started} ms`);
  const dir = harnessDir(h);
  t.match(h.runId, /^h[0-9a-f]+$/);
  t.equal(h.dockerHost, `unix://${h.dockerSocket}`);
  t.match(h.registry, /^127\.0\.0\.1:\d+$/);

  t.equal((await h.docker(['images', '-aq'])).stdout, '', 'engine starts without images, so tests do real pulls');

  await h.docker(['pull', h.images.busybox]);
  t.equal(await runEcho(h, h.images.busybox), 'hi', 'busybox pulled by tag runs');

  t.equal(await registryDigest(h, 'titus-test/busybox', 'latest'), h.images.busyboxDigest, 'busyboxDigest is the registry digest');
  await h.docker(['rmi', h.images.busybox]);
  await h.docker(['pull', `${h.images.busyboxRepo}@${h.images.busyboxDigest}`]);
  t.pass('busybox pulls by digest');

  const latest = await registryDigest(h, 'titus-test/bydigest', 'latest');
  t.ok(latest?.startsWith('sha256:'));
  t.not(latest, h.images.byDigestOnlyDigest, "bydigest's tag now points at another image");
  t.equal(h.images.byDigestOnly, `${h.images.byDigestOnlyRepo}@${h.images.byDigestOnlyDigest}`);
  await h.docker(['pull', h.images.byDigestOnly]);
  const marker = await h.docker(['run', '--rm', '--network', 'none', h.images.byDigestOnly, 'sh', '-c', 'echo $TITUS_TEST_IMAGE']);
  t.equal(marker.stdout.trim(), 'bydigest-a', 'the digest still names the first image');

  const entry = await h.docker(['run', '--rm', '--network', 'none', h.images.entrypoint]);
  t.equal(entry.stdout.trim(), 'from-entrypoint from-cmd');

  await h.docker(['pull', h.images.stopsignal]);
  const config = await h.docker(['inspect', '-f', '{{.Config.StopSignal}} {{json .Config.Cmd}}', h.images.stopsignal]);
  t.equal(config.stdout.trim(), 'SIGUSR1 ["/bin/sh"]');

  // Left running on purpose: stop() must remove it.
  await h.docker(['run', '-d', '--network', 'none', '--label', 'titus.test=leak', h.images.busybox, 'sleep', '1000']);
  await h.docker(['create', '--label', 'titus.test=other', h.images.busybox]);
  const leaked = await containersWithLabel(h, 'titus.test', 'leak');
  t.equal(leaked.length, 1, 'containersWithLabel finds the labelled container');
  t.match(leaked[0], /^[0-9a-f]{64}$/, 'by full id');
  t.equal((await containersWithLabel(h, 'titus.test')).length, 2, 'without a value, any value matches');
  t.same(await containersWithLabel(h, 'titus.test', 'none'), []);
  const pid = Number((await h.docker(['inspect', '-f', '{{.State.Pid}}', leaked[0] ?? ''])).stdout.trim());
  t.ok(leftoversOf(dir).pids.includes(pid), 'the leak check sees container processes');

  const stopping = Date.now();
  await h.stop();
  t.comment(`harness stop took ${Date.now() - stopping} ms`);
  await assertGone(t, h, dir);
  await h.stop();
  t.pass('stop() is idempotent');
});

t.test('two harnesses at once do not see each other', async (t) => {
  const [a, b] = await Promise.all([useHarness(t, { runtimes: { 'fake-runc': '/usr/sbin/runc' } }), useHarness(t)]);
  t.not(a.dockerSocket, b.dockerSocket);
  t.not(a.registry, b.registry);
  t.not(a.runId, b.runId);

  await Promise.all([a.docker(['pull', a.images.busybox]), b.docker(['pull', b.images.busybox])]);
  const [outA, outB] = await Promise.all([runEcho(a, a.images.busybox, '--runtime', 'fake-runc'), runEcho(b, b.images.busybox)]);
  t.equal(outA, 'hi', 'extra runtime works in a');
  t.equal(outB, 'hi');
  const runtimes = async (h: Harness): Promise<string> => (await h.docker(['info', '--format', '{{json .Runtimes}}'])).stdout;
  t.match(await runtimes(a), /fake-runc/);
  t.notMatch(await runtimes(b), /fake-runc/);

  await a.docker(['create', '--label', 'titus.owner=a', a.images.busybox]);
  t.equal((await containersWithLabel(a, 'titus.owner', 'a')).length, 1);
  t.same(await containersWithLabel(b, 'titus.owner', 'a'), [], "b's engine does not see a's container");

  await a.stop();
  await assertGone(t, a, harnessDir(a));
  t.equal(await runEcho(b, b.images.busybox), 'hi', 'b still works after a stopped');
  await b.stop();
  await assertGone(t, b, harnessDir(b));
});

t.test('withImages: false skips the images', async (t) => {
  const h = await startHarness({ withImages: false });
  t.teardown(() => h.stop());
  t.throws(() => h.images, /withImages: false/);
  t.equal((await h.docker(['version', '--format', '{{.Server.APIVersion}}'])).stdout.trim(), '1.41');
  const dir = harnessDir(h);
  await h.stop();
  await assertGone(t, h, dir);
});

/** Runs the dying-process fixture with tap's own loader flags; resolves with its JSON line and exit. */
const runDyingProcess = (mode: 'throw' | 'wait'): Promise<{ dir: string; containerPid: number; exit: string }> =>
  new Promise((resolve, reject) => {
    const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'dying-process.ts');
    const child = spawn(process.execPath, [...process.execArgv, fixture, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let info: { dir: string; containerPid: number } | undefined;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (info !== undefined || !stdout.includes('\n')) return;
      info = JSON.parse(stdout.split('\n')[0] ?? '') as { dir: string; containerPid: number };
      if (mode === 'wait') child.kill('SIGTERM');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (info === undefined) reject(new Error(`fixture died before starting its harness (code ${code}): ${stderr}`));
      else resolve({ ...info, exit: signal ?? `code ${code}` });
    });
  });

t.test('a test process that dies does not leave its harness behind', async (t) => {
  const [thrown, signalled] = await Promise.all([runDyingProcess('throw'), runDyingProcess('wait')]);
  t.equal(thrown.exit, 'code 1', 'uncaught error exits with code 1');
  t.ok(thrown.containerPid > 0);
  t.equal(signalled.exit, 'SIGTERM', 'the signal still kills the process');
  for (const { dir } of [thrown, signalled]) {
    // The exit hook's SIGKILLs land asynchronously; give them a moment.
    for (let i = 0; i < 50 && leftoversOf(dir).pids.length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    // leftoversOf includes container processes, so this also covers thrown.containerPid.
    t.same(leftoversOf(dir), { pids: [], mounts: [] }, `nothing of ${dir} left`);
    t.notOk(existsSync(dir), 'dir removed');
  }
});
