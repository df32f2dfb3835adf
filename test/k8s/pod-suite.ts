/**
 * One harness engine and one executor with the interLink plugin API on a unix
 * socket, per test file, with helpers to create pods, poll their status and
 * release containers that wait on a gate file in their emptyDir.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { executorSuite, type Suite } from '../helpers/executor.js';
import type { K8sContainerStatus } from '../../src/k8s/container-status.js';
import type { PodStatusAnswer } from '../../src/k8s/pod-supervisor.js';
import { call, type Reply } from './interlink-client.js';

export interface PodSuite extends Suite {
  readonly socket: string;
  create(body: unknown): Promise<Reply>;
  /** GET /status for one pod (by UID; its container names come from `pod`). */
  status(pod: SimplePod): Promise<PodStatusAnswer>;
  /** Polls /status until `done` holds; fails the wait after `timeoutMs`. */
  waitFor(pod: SimplePod, done: (s: PodStatusAnswer) => boolean, what: string, timeoutMs?: number): Promise<PodStatusAnswer>;
  /** Writes a file into one of the pod's emptyDirs on the host (containers poll for it). */
  gate(uid: string, volume: string, file: string, content?: string): void;
  del(pod: SimplePod, graceSeconds?: number): Promise<Reply>;
}

/** `executor`: more of the executor's config (e.g. `volumes`), beside the interLink block. */
export const podSuite = (t: Test, interlink: Record<string, unknown> = {}, executor: Record<string, unknown> = {}): PodSuite => {
  // Unix socket paths are limited to 107 bytes: a short directory of its own.
  const dir = mkdtempSync(join(tmpdir(), 'titus-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'interlink.sock');
  const suite = executorSuite(t, { ...executor, interlink: { enabled: true, socketPath: socket, ...interlink } });
  const status = async (pod: SimplePod): Promise<PodStatusAnswer> => {
    const r = await call(socket, 'GET', '/status', [pod]);
    if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.text}`);
    const [answer] = r.json<PodStatusAnswer[]>();
    if (answer === undefined) throw new Error('/status answered no pod');
    return answer;
  };
  return {
    get h() {
      return suite.h;
    },
    get ex() {
      return suite.ex;
    },
    test: suite.test,
    socket,
    create: (body) => call(socket, 'POST', '/create', body),
    status,
    waitFor: async (pod, done, what, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      let last: PodStatusAnswer | undefined;
      while (Date.now() < deadline) {
        last = await status(pod);
        if (done(last)) return last;
        await new Promise((r) => setTimeout(r, 150));
      }
      throw new Error(`pod ${pod.metadata.name} did not reach "${what}" within ${timeoutMs} ms; last status ${JSON.stringify(last)}`);
    },
    gate: (uid, volume, file, content = '') => {
      writeFileSync(join(suite.ex.config.stateDir, 'k8s', 'pods', uid, 'volumes', volume, file), content);
    },
    del: (pod, graceSeconds) =>
      call(socket, 'POST', '/delete', graceSeconds === undefined ? pod : { ...pod, metadata: { ...pod.metadata, deletionGracePeriodSeconds: graceSeconds } }),
  };
};

export interface SimpleContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value: string }>;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  workingDir?: string;
}

export interface SimplePod {
  metadata: { name: string; namespace: string; uid: string; deletionGracePeriodSeconds?: number };
  spec: {
    initContainers?: SimpleContainer[];
    containers: SimpleContainer[];
    volumes?: Array<Record<string, unknown>>;
    restartPolicy: string;
    terminationGracePeriodSeconds?: number;
  };
}

/** A pod whose containers run `sh -c <script>`, all mounting one emptyDir `shared` at /shared. */
export const shellPod = (
  name: string,
  image: string,
  containers: Record<string, string>,
  init: Record<string, string> = {},
  extra: { graceSeconds?: number; resources?: Record<string, SimpleContainer['resources']>; restartPolicy?: string } = {},
): SimplePod => {
  const container = ([n, script]: [string, string]): SimpleContainer => ({
    name: n,
    image,
    command: ['sh', '-c', script],
    volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
    ...(extra.resources?.[n] !== undefined ? { resources: extra.resources[n] } : {}),
  });
  return {
    metadata: { name, namespace: 'default', uid: randomUUID() },
    spec: {
      ...(Object.keys(init).length > 0 ? { initContainers: Object.entries(init).map(container) } : {}),
      containers: Object.entries(containers).map(container),
      volumes: [{ name: 'shared', emptyDir: {} }],
      restartPolicy: extra.restartPolicy ?? 'Never',
      ...(extra.graceSeconds !== undefined ? { terminationGracePeriodSeconds: extra.graceSeconds } : {}),
    },
  };
};

/** interLink's create body for a pod with no ConfigMaps or Secrets. */
export const createBody = (pod: SimplePod): unknown => ({
  pod,
  container: [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => ({ name: c.name, configMaps: null, secrets: null, projectedvolumemaps: null, emptyDirs: null })),
});

export const byName = (list: readonly K8sContainerStatus[], name: string): K8sContainerStatus => {
  const s = list.find((c) => c.name === name);
  if (s === undefined) throw new Error(`no status for container ${name}`);
  return s;
};

export const allTerminated = (s: PodStatusAnswer): boolean => [...s.initContainers, ...s.containers].every((c) => c.state.terminated !== undefined);
