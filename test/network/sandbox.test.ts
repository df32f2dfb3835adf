/**
 * The network part against a real engine and the real local driver, with
 * faults injected at the exact moments an end-to-end test cannot hit
 * reliably: a kill right after the sandbox started, an attach that fails
 * after it created host pieces, network setup running out of time. Each must
 * leave no sandbox, veth, IFB, nft table or lease. Also the pause image:
 * built once from the host's static busybox, labelled, reused.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { useHarness, type Harness } from '../harness/index.js';
import { silentLogger } from '../../src/common/log.js';
import { DockerRuntime } from '../../src/runtime/docker-runtime.js';
import { NetworkTaskPart } from '../../src/parts/network-part.js';
import { assertStaticExecutable, PAUSE_ENTRYPOINT, SandboxManager, type SandboxRuntime } from '../../src/parts/sandbox.js';
import type { LaunchSpec } from '../../src/task/types.js';
import { LocalNetworkDriver, localNetworkConfigSchema } from '../../src/vpc/index.js';
import type { NetworkAttachment, NetworkDriver, NetworkSpec } from '../../src/vpc/types.js';
import { createHostNetns, heldNetns, inventory, localNetwork, witnessNetns } from './fixtures/tasks.js';

let h: Harness;
let hostNs: string;
const executorId = `sandbox-test-${process.pid}`;

t.before(async () => {
  h = await useHarness(t);
  hostNs = await createHostNetns(t);
});

const launch = (taskId: string): LaunchSpec => ({
  taskId,
  containerInfo: {},
  resources: { cpu: 1, memoryMb: 128, diskMb: 1000, networkMbps: 10, gpus: 0 },
  labels: {},
});

const sandboxConfig = { busyboxPath: '/bin/busybox', memoryMb: 16, setupTimeoutMs: 60_000 };

const sandboxManager = (runtime: SandboxRuntime): SandboxManager =>
  new SandboxManager(runtime, { ...sandboxConfig, image: `titus-executor/pause:test-${process.pid}` }, { executorId, executorPid: process.pid }, silentLogger());

const localDriver = async (): Promise<LocalNetworkDriver> =>
  LocalNetworkDriver.create({ config: localNetworkConfigSchema.parse((localNetwork(hostNs) as { local: unknown }).local) });

/** Nothing of the test's on the engine or in the host namespace, and every address free. */
const assertClean = async (t: Test, driver: NetworkDriver, label: string): Promise<void> => {
  const sandboxes = (await h.docker(['ps', '-aq', '--filter', `label=titus.executor.id=${executorId}`])).stdout.trim();
  t.equal(sandboxes, '', `${label}: no sandbox container`);
  t.same(await inventory(hostNs), { links: [], nftTables: [], qdiscDevices: [] }, `${label}: no veth, IFB, qdisc or nft table`);
  t.equal(driver.available().ipv4Free, driver.available().ipv4Total, `${label}: no lease`);
};

t.test('the pause image is built once from the static busybox, labelled, and reused', async (t) => {
  const docker = new DockerRuntime(h.dockerHost);
  let imports = 0;
  const counting = new Proxy(docker, {
    get(target, prop, receiver) {
      if (prop === 'importImage') return (...args: Parameters<DockerRuntime['importImage']>) => (imports++, target.importImage(...args));
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const manager = sandboxManager(counting);
  await Promise.all([manager.ensureImage(), manager.ensureImage(), manager.ensureImage()]);
  t.equal(imports, 1, 'concurrent first uses share one import');
  await sandboxManager(counting).ensureImage();
  t.equal(imports, 1, 'a present image is reused');
  const inspect = JSON.parse((await h.docker(['image', 'inspect', manager.imageRef])).stdout) as Array<{ Config: { Entrypoint: string[]; Labels: Record<string, string> }; RootFS: { Layers: string[] } }>;
  t.same(inspect[0]?.Config.Entrypoint, PAUSE_ENTRYPOINT);
  t.equal(inspect[0]?.Config.Labels['titus.executor.image'], 'pause', 'recognisable by its label');
  t.equal(inspect[0]?.RootFS.Layers.length, 1, 'one layer: the busybox');

  await assertStaticExecutable('/bin/busybox');
  await t.rejects(assertStaticExecutable('/bin/ls'), /dynamically linked/, 'a dynamic binary is refused');
  const text = join(tmpdir(), `not-elf-${process.pid}`);
  writeFileSync(text, '#!/bin/sh\n');
  await t.rejects(assertStaticExecutable(text), /not an ELF executable/);
  await t.rejects(assertStaticExecutable('/no/such/busybox'), /busybox-static/);
});

t.test('a kill right after the sandbox started leaves nothing', async (t) => {
  const docker = new DockerRuntime(h.dockerHost);
  const kill = new AbortController();
  const killing = new Proxy(docker, {
    get(target, prop, receiver) {
      if (prop === 'startContainer') {
        return async (id: string) => {
          await target.startContainer(id);
          kill.abort(new Error('killed'));
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const driver = await localDriver();
  const part = new NetworkTaskPart(driver, sandboxManager(killing), { setupTimeoutMs: 60_000 }, silentLogger());
  part.admit(launch('killed-early'));
  await t.rejects(part.acquire(launch('killed-early'), kill.signal), /killed/);
  await part.release('killed-early');
  await assertClean(t, driver, 'after the kill');
});

t.test('an attach that fails after creating host pieces, and a setup that runs out of time, leave nothing', async (t) => {
  const docker = new DockerRuntime(h.dockerHost);
  const real = await localDriver();
  let netns = '';
  // Fails after the real attach did all its work: only the part can clean up now.
  const failingLate: NetworkDriver = Object.assign(Object.create(real) as NetworkDriver, {
    attach: async (spec: NetworkSpec, path: string, signal?: AbortSignal): Promise<NetworkAttachment> => {
      await real.attach(spec, path, signal);
      netns = path;
      throw new Error('injected failure after attach');
    },
  });
  const part = new NetworkTaskPart(failingLate, sandboxManager(docker), { setupTimeoutMs: 60_000 }, silentLogger());
  part.admit(launch('attach-fails'));
  await t.rejects(part.acquire(launch('attach-fails'), new AbortController().signal), /injected failure after attach/);
  t.not((await inventory(hostNs)).links, [], 'the failed attach left host pieces');
  const sandbox = (await h.docker(['ps', '-q', '--filter', 'label=titus.task_id=attach-fails'])).stdout.trim();
  const ns = await witnessNetns(h, sandbox);
  t.ok(netns.startsWith('/proc/'), `attached in ${netns}`);
  await part.release('attach-fails');
  await assertClean(t, real, 'after the failed attach');
  t.same(await heldNetns([ns]), [], 'the sandbox namespace is gone');

  // Setup that hangs is cut off by network.sandbox.setupTimeoutMs.
  const hanging: NetworkDriver = Object.assign(Object.create(real) as NetworkDriver, {
    attach: (_spec: NetworkSpec, _path: string, signal?: AbortSignal) =>
      new Promise<NetworkAttachment>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error))),
  });
  const slow = new NetworkTaskPart(hanging, sandboxManager(docker), { setupTimeoutMs: 1500 }, silentLogger());
  slow.admit(launch('too-slow'));
  // AbortSignal.timeout does not keep the process alive (the executor's server does); this test must.
  const keepAlive = setInterval(() => undefined, 100);
  t.teardown(() => clearInterval(keepAlive));
  await t.rejects(slow.acquire(launch('too-slow'), new AbortController().signal), {
    code: 'DEADLINE_EXCEEDED',
    message: 'network setup did not finish within 1500 ms',
  });
  await slow.release('too-slow');
  await assertClean(t, real, 'after the timeout');
});
