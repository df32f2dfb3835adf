/**
 * The kernel's log as evidence of OOM kills. A plain file written in /dev/kmsg's
 * record format stands for /dev/kmsg (test/runtime/lifecycle.test.ts reads the
 * real one); the records are copied from a 6.x kernel's memcg OOM report.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelOomLog, isOomKillOf, parseRecord } from '../../src/runtime/kernel-oom-log.js';

const id = 'a13206b4c74e8a0fb9cb6d49f9d47855a83e8dcbcda8a2d1766fcbd29990e03d';
const other = 'b'.repeat(64);
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

const summary = (container: string): string =>
  `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=${container},mems_allowed=0,oom_memcg=/docker/${container},task_memcg=/docker/${container},task=dd,pid=16400,uid=0`;
const killed = (pid: number): string =>
  `Memory cgroup out of memory: Killed process ${pid} (dd) total-vm:67740kB, anon-rss:15860kB, file-rss:4kB, shmem-rss:0kB, UID:0 pgtables:180kB oom_score_adj:1000`;

const kernelLog = (records: Array<[atUs: number, message: string]>): string => {
  const dir = mkdtempSync(join(tmpdir(), 'kmsg-'));
  const path = join(dir, 'kmsg');
  const lines = records.map(([atUs, message], seq) => `6,${seq + 100},${atUs},-;${message}\n SUBSYSTEM=memory\n`);
  writeFileSync(path, lines.join(''));
  return path;
};

t.test('records parse as kmsg writes them', async (t) => {
  t.same(parseRecord(`3,3842,12125953653,-;${killed(7)}`), { atUs: 12125953653, message: killed(7) });
  t.equal(parseRecord(' SUBSYSTEM=memory'), undefined, 'continuation lines are not records');
  t.equal(parseRecord('garbage'), undefined);
});

t.test('the oom-kill summary names the container by its memory cgroup (cgroupfs and systemd drivers)', async (t) => {
  const c = { id, pid: 0, startedAtMs: Date.now() };
  t.ok(isOomKillOf({ atUs: 1, message: summary(id) }, c, 0));
  t.ok(isOomKillOf({ atUs: 1, message: summary(id).replaceAll(`/docker/${id}`, `/system.slice/docker-${id}.scope`) }, c, 0));
  t.notOk(isOomKillOf({ atUs: 1, message: summary(other) }, c, 0), "another container's kill");
  t.ok(isOomKillOf({ atUs: 1, message: `Task in /docker/${id} killed as a result of limit of /docker/${id}` }, c, 0), 'kernels before 4.19');
});

t.test('a rate-limited report (no summary) is matched by the container init pid, only after its start', async (t) => {
  const startedAtMs = Date.now() - 5000;
  const log = kernelLog([
    [nowUs() - 60_000_000, killed(4242)], // a minute ago: an earlier process with the same pid
    [nowUs() - 1_000_000, killed(999)],
  ]);
  const oom = new KernelOomLog(log);
  t.equal(await oom.sawOomKill({ id, pid: 999, startedAtMs }), true, 'its init was killed after it started');
  t.equal(await oom.sawOomKill({ id, pid: 4242, startedAtMs }), false, 'the same pid killed before it started was not it');
  t.equal(await oom.sawOomKill({ id, pid: 0, startedAtMs }), false, 'no pid, no summary: no evidence');
});

t.test('the summary is found among many records', async (t) => {
  const records: Array<[number, string]> = Array.from({ length: 3000 }, (_, i) => [nowUs() - 1000 + i, `eth0: link up ${i}`]);
  records.push([nowUs(), summary(id)]);
  const oom = new KernelOomLog(kernelLog(records));
  t.equal(await oom.sawOomKill({ id, pid: 0, startedAtMs: Date.now() }), true);
  t.equal(await oom.sawOomKill({ id: other, pid: 0, startedAtMs: Date.now() }), false);
});

t.test('an unreadable kernel log is no evidence, never an error', async (t) => {
  t.equal(await new KernelOomLog('/nonexistent/kmsg').sawOomKill({ id, pid: 1, startedAtMs: 0 }), false);
});

t.test('/dev/kmsg itself is read to its end without blocking', async (t) => {
  const started = Date.now();
  t.equal(await new KernelOomLog().sawOomKill({ id: other, pid: 0, startedAtMs: Date.now() }), false);
  t.ok(Date.now() - started < 5000, `read in ${Date.now() - started} ms`);
});
