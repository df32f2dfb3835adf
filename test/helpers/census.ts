/**
 * The census a recovery test ends with: everything the executor leaves on the
 * host or the engine that no live task owns. A crash, an engine outage or a
 * restart must never strand a container, a GPU lock, an address lease, a
 * veth, an IFB, a qdisc, a tc class, an nft table, a network namespace, a
 * volume mount, a task's /etc files or a task record; an empty list is the
 * only passing answer.
 *
 *   t.same(await census({ h, executorId, client, stateDir, gpuLockDir }), [], 'nothing left that no live task owns');
 *
 * "Live" is what the executor says (ListTasks: every task not in a terminal
 * state), asked once at the start; pass `liveTaskIds` instead when no
 * executor is running any more.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import { call } from '../../src/cli/client.js';
import { isProcessAlive } from '../../src/common/process-liveness.js';
import { namesForTask } from '../../src/vpc/naming.js';
import type { Harness } from '../harness/index.js';
import { inNs, inventory } from '../vpc/fixtures/netns.js';
import { mountsUnder } from '../harness/mounts.js';

/** What keeps a task's network namespace alive (see test/network/fixtures/tasks.ts). */
export interface NetnsHolderCheck {
  readonly taskId: string;
  /** Why the namespace still lives, or undefined when nothing holds it. */
  held(): Promise<string | undefined>;
}

export interface CensusScope {
  readonly h: Pick<Harness, 'docker'>;
  readonly executorId: string;
  /** Asked which tasks are live (and which are known at all, for the records). */
  readonly client?: TitusExecutorClient;
  /** Live task ids when there is no client to ask. */
  readonly liveTaskIds?: readonly string[];
  /**
   * The executor's stateDir: every task record must name a task the executor knows, and every
   * directory of /etc files (task-files/<taskId>, OwnNamespacePart) must be a live task's.
   */
  readonly stateDir?: string;
  /** gpu.lockDir: every lock must be a live task's, held by a live process. */
  readonly gpuLockDir?: string;
  /** The local driver's lease file: every lease must be a live task's. */
  readonly leaseFile?: string;
  /** The namespace standing in for the host's network (local driver). */
  readonly hostNs?: string;
  /** The namespaces of tasks the test watched; those of tasks not live must be gone. */
  readonly netns?: readonly NetnsHolderCheck[];
  /** volumes.mountDir: every mount and task directory under it must be a live task's. */
  readonly volumeMountDir?: string;
  /**
   * sandboxPool.size of the running executor: up to this many idle pooled sandboxes are its warm pool, not
   * a leak. A pooled sandbox a live task's container joined (label titus.executor.pooled_sandbox) is that
   * task's; any other is reported. Unset: every pooled sandbox not a live task's is reported.
   */
  readonly poolSize?: number;
}

const TERMINAL = /FINISHED|FAILED|KILLED|LOST/;
/** A record the store moved aside on purpose (corrupt-store.test.ts); it is kept for people to read. */
const QUARANTINED = /^\..+\.json\.corrupt-\d+$/;

interface Known {
  readonly live: ReadonlySet<string>;
  /** Every task the executor knows, ended ones included; undefined without a client. */
  readonly all: ReadonlySet<string> | undefined;
}

const askExecutor = async (scope: CensusScope): Promise<Known> => {
  if (scope.client === undefined) return { live: new Set(scope.liveTaskIds ?? []), all: undefined };
  const { tasks } = await call(scope.client.ListTasks.bind(scope.client), { includeTerminal: true });
  const live = tasks.filter((t) => !TERMINAL.test(t.state ?? '')).map((t) => t.taskId ?? '');
  return { live: new Set([...live, ...(scope.liveTaskIds ?? [])]), all: new Set(tasks.map((t) => t.taskId ?? '')) };
};

const POOLED_ROLE = 'pooled-sandbox';

const containers = async (scope: CensusScope, live: ReadonlySet<string>): Promise<string[]> => {
  const format = '{{.ID}} {{.State}} {{.Label "titus.task_id"}} {{.Label "titus.executor.role"}} {{.Label "titus.executor.pooled_sandbox"}}';
  const { stdout } = await scope.h.docker(['ps', '-a', '--no-trunc', '--filter', `label=titus.executor.id=${scope.executorId}`, '--format', format]);
  const rows = stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(' '));
  // Pooled sandboxes carry no task id: one is a live task's when that task's container joined it.
  const joinedByLive = new Set(rows.filter(([, , taskId = '', , pooled = '']) => live.has(taskId) && pooled !== '').map((r) => r[4] ?? ''));
  const pooled = rows.filter(([, , , role = '']) => role === POOLED_ROLE);
  const idle = pooled.filter(([id = '']) => !joinedByLive.has(id));
  const idleAllowed = scope.poolSize !== undefined && idle.length <= scope.poolSize && idle.every(([, state = '']) => state === 'running');
  return rows
    .filter(([id = '', , taskId = '', role = '']) => (role === POOLED_ROLE ? !joinedByLive.has(id) && !idleAllowed : !live.has(taskId)))
    .map(([id = '', state = '', taskId = '', role = '']) => `container ${id.slice(0, 12)} (${state}, role ${role || '?'}) of task ${taskId || '?'}`);
};

const records = (stateDir: string, all: ReadonlySet<string> | undefined): string[] => {
  const dir = join(stateDir, 'tasks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    if (QUARANTINED.test(name)) return [];
    if (!name.endsWith('.json') || name.startsWith('.')) return [`file ${name} in the task store (a temporary or stray file)`];
    const taskId = name.slice(0, -'.json'.length);
    return all === undefined || all.has(taskId) ? [] : [`task record ${name} of a task the executor does not know`];
  });
};

/** `<stateDir>/task-files/<taskId>`: the /etc/hosts and /etc/resolv.conf of a task without a network driver. */
const taskFiles = (stateDir: string, live: ReadonlySet<string>): string[] => {
  const dir = join(stateDir, 'task-files');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => !live.has(name))
    .map((name) => `/etc files ${join(dir, name)} of task ${name}, which is not live`);
};

const gpuLocks = (lockDir: string, live: ReadonlySet<string>): string[] => {
  if (!existsSync(lockDir)) return [];
  return readdirSync(lockDir).flatMap((name) => {
    if (!name.endsWith('.lock')) return [`file ${name} in the GPU lock directory`];
    let owner: { taskId?: unknown; pid?: unknown; startTime?: unknown } = {};
    try {
      owner = JSON.parse(readFileSync(join(lockDir, name), 'utf8')) as typeof owner;
    } catch {
      return [`GPU lock ${name} that cannot be read`];
    }
    const taskId = String(owner.taskId);
    if (!live.has(taskId)) return [`GPU lock ${name} of task ${taskId}, which is not live (pid ${String(owner.pid)})`];
    const pid = typeof owner.pid === 'number' ? owner.pid : 0;
    if (!isProcessAlive(pid, typeof owner.startTime === 'string' ? owner.startTime : undefined)) {
      return [`GPU lock ${name} of live task ${taskId} held in the name of process ${pid}, which is gone`];
    }
    return [];
  });
};

const leases = (leaseFile: string, live: ReadonlySet<string>): string[] => {
  if (!existsSync(leaseFile)) return [];
  const file = JSON.parse(readFileSync(leaseFile, 'utf8')) as { leases?: Array<{ taskId?: string; ipv4?: string; ipv6?: string }> };
  return (file.leases ?? []).filter((l) => !live.has(l.taskId ?? '')).map((l) => `address lease ${l.ipv4 ?? l.ipv6 ?? '?'} of task ${l.taskId ?? '?'}`);
};

/** Veths, IFBs, their qdiscs and tc classes, and nft tables in the host namespace that no live task's names account for. */
const hostNetwork = async (hostNs: string, live: ReadonlySet<string>): Promise<string[]> => {
  const owned = [...live].map(namesForTask);
  const devices = new Set(owned.flatMap((n) => [n.hostVeth, n.ifb]));
  const tables = new Set(owned.map((n) => n.nftTable));
  const inv = await inventory(hostNs);
  const found: string[] = [];
  for (const link of inv.links) if (!devices.has(link)) found.push(`link ${link} in ${hostNs}`);
  for (const table of inv.nftTables) if (!tables.has(table)) found.push(`nft table ${table} in ${hostNs}`);
  for (const qdisc of inv.qdiscDevices) if (!devices.has(qdisc.split(':')[0] ?? '')) found.push(`qdisc ${qdisc} in ${hostNs}`);
  for (const dev of ['lo', ...inv.links.filter((l) => !devices.has(l))]) {
    // Plain text: this iproute2's `tc -j class show` prints htb classes as text anyway.
    const out = await inNs(hostNs, ['tc', 'class', 'show', 'dev', dev]).catch(() => '');
    for (const line of out.split('\n')) {
      const handle = /^class \S+ (\S+)/.exec(line)?.[1];
      if (handle !== undefined) found.push(`tc class ${dev}:${handle} in ${hostNs}`);
    }
  }
  return found;
};

const namespaces = async (checks: readonly NetnsHolderCheck[], live: ReadonlySet<string>): Promise<string[]> => {
  const held = await Promise.all(checks.filter((c) => !live.has(c.taskId)).map(async (c) => ({ taskId: c.taskId, by: await c.held() })));
  return held.filter((x) => x.by !== undefined).map((x) => `network namespace of task ${x.taskId}, held by ${x.by ?? ''}`);
};

/** Mounts under volumes.mountDir (`<dir>/<taskId>/<n>`) and task directories there that no live task owns. */
const volumeMounts = (mountDir: string, live: ReadonlySet<string>): string[] => {
  const taskOf = (path: string): string => path.slice(mountDir.length + 1).split('/')[0] ?? '';
  const found = mountsUnder(mountDir)
    .filter((point) => point !== mountDir && !live.has(taskOf(point)))
    .map((point) => `volume mount ${point} of task ${taskOf(point)}, which is not live`);
  const dirs = existsSync(mountDir) ? readdirSync(mountDir).filter((name) => !live.has(name)) : [];
  return [...found, ...dirs.map((name) => `volume directory ${join(mountDir, name)} of task ${name}, which is not live`)];
};

/** Every piece of executor state that no live task owns; [] when nothing leaked. */
export const census = async (scope: CensusScope): Promise<string[]> => {
  const { live, all } = await askExecutor(scope);
  return [
    ...(await containers(scope, live)),
    ...(scope.stateDir !== undefined ? [...records(scope.stateDir, all), ...taskFiles(scope.stateDir, live)] : []),
    ...(scope.gpuLockDir !== undefined ? gpuLocks(scope.gpuLockDir, live) : []),
    ...(scope.leaseFile !== undefined ? leases(scope.leaseFile, live) : []),
    ...(scope.hostNs !== undefined ? await hostNetwork(scope.hostNs, live) : []),
    ...(scope.netns !== undefined ? await namespaces(scope.netns, live) : []),
    ...(scope.volumeMountDir !== undefined ? volumeMounts(scope.volumeMountDir, live) : []),
  ];
};

/** Polls the census until it is empty (cleanup runs after the terminal update), then returns the last answer. */
export const settledCensus = async (scope: CensusScope, timeoutMs = 30_000): Promise<string[]> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await census(scope);
    if (found.length === 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
};
