/**
 * The harness option dataRootFs: the engine's data root on a loop-mounted
 * filesystem of its own, and nothing of it (mount, loop device, image file)
 * left behind by stop(), by a start that fails half-way, or by a test process
 * that dies.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { leftoversOf, loopDevicesUnder, startHarness } from './index.js';
import { mountHolding } from '../../src/runtime/disk-quota.js';

t.test('xfs: the data root is the loop mount; stop() unmounts it and detaches the loop device', async (t) => {
  const h = await startHarness({ dataRootFs: 'xfs', withImages: false });
  const dir = dirname(h.dockerSocket);
  try {
    const mount = mountHolding(readFileSync('/proc/self/mountinfo', 'utf8'), join(dir, 'data'));
    t.match(mount, { mountPoint: join(dir, 'data'), fsType: 'xfs' }, 'the data root is its own xfs');
    t.equal(loopDevicesUnder(dir).length, 1, 'one loop device, backed by the harness dir');
    t.equal((await h.docker(['info', '--format', '{{.Driver}} {{.DockerRootDir}}'])).stdout.trim(), `overlay2 ${join(dir, 'data')}`);
  } finally {
    await h.stop();
  }
  t.same(leftoversOf(dir), { pids: [], mounts: [] }, 'nothing running or mounted');
  t.same(loopDevicesUnder(dir), [], 'no loop device left');
  t.notOk(existsSync(dir), 'dir removed');
});

t.test('a start that fails after the filesystem was made leaves nothing', async (t) => {
  // A TMPDIR of its own, so what this start makes is told apart from other harnesses running now.
  const base = mkdtempSync('/tmp/titus-fail-');
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = base;
  try {
    // An invalid runtime name fails the engine's start after its data root was mounted.
    await t.rejects(startHarness({ dataRootFs: 'xfs', withImages: false, runtimes: { 'bad name': '/bin/true' } }), /invalid runtime name/);
  } finally {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  }
  t.same(leftoversOf(base), { pids: [], mounts: [] }, 'nothing running or mounted');
  t.same(loopDevicesUnder(base), [], 'no loop device left');
  t.same(readdirSync(base), [], 'the harness dir is removed');
  rmdirSync(base);
});

/** The dying-process fixture (harness.test.ts) with a data root of its own; resolves with its dir once it died of SIGTERM. */
const dieWithDataRoot = (t: Test): Promise<{ dir: string; exit: string }> =>
  new Promise((resolve, reject) => {
    const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'dying-process.ts');
    const child = spawn(process.execPath, [...process.execArgv, fixture, 'wait', 'xfs'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let dir: string | undefined;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (dir !== undefined || !stdout.includes('\n')) return;
      dir = (JSON.parse(stdout.split('\n')[0] ?? '') as { dir: string }).dir;
      t.equal(loopDevicesUnder(dir).length, 1, 'the dying process had its loop device');
      child.kill('SIGTERM');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (dir === undefined) reject(new Error(`fixture died before starting its harness (code ${code}): ${stderr}`));
      else resolve({ dir, exit: signal ?? `code ${code}` });
    });
  });

t.test('a test process that dies leaves no mount or loop device of its data root', async (t) => {
  const { dir, exit } = await dieWithDataRoot(t);
  t.equal(exit, 'SIGTERM');
  for (let i = 0; i < 50 && leftoversOf(dir).pids.length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(leftoversOf(dir), { pids: [], mounts: [] }, `nothing of ${dir} left`);
  for (let i = 0; i < 50 && loopDevicesUnder(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(loopDevicesUnder(dir), [], 'no loop device left');
  t.notOk(existsSync(dir), 'dir removed');
});
