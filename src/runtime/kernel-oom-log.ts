import { closeSync, constants, openSync, readSync } from 'node:fs';

/** The container whose SIGKILL is in question. */
export interface KilledContainer {
  /** The engine's full 64-hex id: the kernel names the container's memory cgroup with it. */
  readonly id: string;
  /** Its init process on the host, if known (0: not known). */
  readonly pid: number;
  /** When it started, ms since the epoch: an older kill of the same pid is someone else's. */
  readonly startedAtMs: number;
}

/** Whether the kernel killed a container's process because its memory limit was reached. */
export interface OomKillEvidence {
  sawOomKill(container: KilledContainer): Promise<boolean>;
}

/** Records read between yields to the event loop. */
const RECORDS_PER_TURN = 256;
/** Kernel and executor clocks are read at different moments; allow for it. */
const CLOCK_SLACK_MS = 1000;

/**
 * The kernel's own log (/dev/kmsg) as evidence of OOM kills. dockerd learns of
 * an OOM kill from containerd's cgroup notification, which is registered after
 * the container starts; a process that exceeds its limit within its first
 * milliseconds is killed before that, and the engine reports a plain exit 137
 * (seen with dockerd 20.10: 4 of 12 containers started together). The kernel
 * logs every kill: `Killed process <pid>` always, and an `oom-kill:` summary
 * naming the container's memory cgroup unless rate-limited (10 per 5 s).
 * Unreadable (no privilege, no such device): no evidence, never an error.
 */
export class KernelOomLog implements OomKillEvidence {
  constructor(private readonly path = '/dev/kmsg') {}

  async sawOomKill(container: KilledContainer): Promise<boolean> {
    const sinceUs = monotonicUs(container.startedAtMs - CLOCK_SLACK_MS);
    try {
      for await (const record of readRecords(this.path)) {
        if (isOomKillOf(record, container, sinceUs)) return true;
      }
    } catch {
      // A read error midway: what was read held no evidence.
    }
    return false;
  }
}

/** One kmsg record: `<priority>,<sequence>,<µs since boot>,<flags>;<message>`. */
export interface KernelRecord {
  readonly atUs: number;
  readonly message: string;
}

const RECORD = /^\d+,\d+,(\d+),[^;]*;(.*)$/;

export const parseRecord = (line: string): KernelRecord | undefined => {
  const m = RECORD.exec(line);
  return m === null ? undefined : { atUs: Number(m[1]), message: m[2] ?? '' };
};

const KILLED_PROCESS = /\bKilled process (\d+) /;
const CGROUP_SUMMARY = /^oom-kill:.*\btask_memcg=(\S+)/;
/** Kernels before 4.19 name the cgroups in a line of their own. */
const OLD_CGROUP_LINE = /^Task in (\S+) killed as a result of limit of /;

export const isOomKillOf = (record: KernelRecord, c: KilledContainer, sinceUs: number): boolean => {
  const memcg = CGROUP_SUMMARY.exec(record.message) ?? OLD_CGROUP_LINE.exec(record.message);
  if (memcg !== null) return (memcg[1] ?? '').includes(c.id);
  if (c.pid <= 0 || record.atUs < sinceUs) return false;
  return KILLED_PROCESS.exec(record.message)?.[1] === String(c.pid);
};

/** `epochMs` on the kernel's clock (µs since boot), which CLOCK_MONOTONIC follows. */
const monotonicUs = (epochMs: number): number => {
  const nowUs = Number(process.hrtime.bigint() / 1000n);
  return nowUs - (Date.now() - epochMs) * 1000;
};

/**
 * The records in the log now, oldest first. /dev/kmsg hands out one record per
 * read and EAGAIN at the end; opened non-blocking, its reads never wait, so
 * they are made synchronously (a thread-pool round trip each would cost 50 µs
 * per record), yielding to the event loop every RECORDS_PER_TURN. A plain file
 * (tests) is read as lines to its end. Continuation lines (a leading space)
 * are dropped.
 */
async function* readRecords(path: string): AsyncGenerator<KernelRecord> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return;
  }
  try {
    const buffer = Buffer.alloc(64 * 1024);
    let carry = '';
    for (let reads = 1; ; reads++) {
      const n = readSome(fd, buffer);
      if (n === 0) break;
      const lines = (carry + buffer.toString('utf8', 0, n)).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        const record = parseRecord(line);
        if (record !== undefined) yield record;
      }
      if (reads % RECORDS_PER_TURN === 0) await new Promise((r) => setImmediate(r));
    }
    const last = parseRecord(carry);
    if (last !== undefined) yield last;
  } finally {
    closeSync(fd);
  }
}

/** Bytes read; 0 at the end. EPIPE: records were overwritten while reading; the next read goes on. */
const readSome = (fd: number, buffer: Buffer): number => {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, buffer.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') continue;
      if (code === 'EAGAIN' || code === 'EINVAL') return 0;
      throw err;
    }
  }
};
