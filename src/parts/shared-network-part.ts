import { ExecutorError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { LABEL } from '../runtime/labels.js';
import { networkFileMounts, OWN_NAME_ADDRESS, type SandboxManager, type SandboxRef, type SandboxRequest } from './sandbox.js';
import type { PartGrant, TaskPart } from '../task/task-part.js';
import type { LaunchSpec, SharedNetworkRequest } from '../task/types.js';
import type { SharedNetworks } from '../task/shared-networks.js';

export type { SharedNetworks } from '../task/shared-networks.js';

export const SHARED_SANDBOX_ROLE = 'shared-sandbox';

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

const sharedSandboxRef = (key: string): SandboxRef => ({
  name: `titus-shared-${key}`,
  own: { [LABEL.role]: SHARED_SANDBOX_ROLE, [LABEL.sharedNetwork]: key },
});


/**
 * Network namespaces shared by several tasks: a Kubernetes pod's containers
 * reach each other on localhost and carry the pod's hostname, as under a
 * kubelet. One pause container per key holds the namespace (only `lo`: the
 * executor's network driver is `none` when this part is in use) and the
 * hostname; each task's container joins it (`container:<sandbox>`) and
 * bind-mounts the /etc/hosts and /etc/resolv.conf written beside it. The
 * sandbox outlives each task (init containers end before the others start),
 * so releasing a task leaves it; the key's owner removes it when the pod ends.
 */
export class SharedNetworkPart implements TaskPart, SharedNetworks {
  readonly name = 'shared-network';
  /** One find-or-create per key at a time: a pod's containers start together. */
  private readonly ensuring = new Map<string, Promise<PartGrant>>();
  private readonly removing = new Map<string, Promise<void>>();

  constructor(
    private readonly sandboxes: SandboxManager,
    private readonly log: Logger,
  ) {}

  admit(launch: LaunchSpec): void {
    const key = launch.sharedNetwork?.key;
    if (key !== undefined && !KEY.test(key)) {
      throw new ExecutorError('INVALID_ARGUMENT', `sharedNetwork.key: ${JSON.stringify(key)} is not 1 to 100 letters, digits, '-', '_' or '.'`);
    }
  }

  acquire(launch: LaunchSpec, signal: AbortSignal): Promise<PartGrant> {
    const shared = launch.sharedNetwork;
    if (shared === undefined) return Promise.resolve({});
    const inFlight = this.ensuring.get(shared.key);
    if (inFlight !== undefined) return inFlight;
    const ensured = this.ensure(shared, signal).finally(() => this.ensuring.delete(shared.key));
    this.ensuring.set(shared.key, ensured);
    return ensured;
  }

  /** The sandbox belongs to the key, not to one task. */
  release(): Promise<void> {
    return Promise.resolve();
  }

  /** Callers at the same time share one removal: a second would see the container mid-removal and return early. */
  remove(key: string): Promise<void> {
    const inFlight = this.removing.get(key);
    if (inFlight !== undefined) return inFlight;
    const removal = this.removeNow(key).finally(() => this.removing.delete(key));
    this.removing.set(key, removal);
    return removal;
  }

  private async removeNow(key: string): Promise<void> {
    await this.ensuring.get(key)?.catch(() => undefined);
    if (await this.sandboxes.removeSandbox(sharedSandboxRef(key))) this.log.info({ key }, 'shared network removed');
  }

  async removeAllExcept(keep: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const c of await this.sandboxes.list(SHARED_SANDBOX_ROLE)) {
      const key = c.labels[LABEL.sharedNetwork] ?? '';
      if (keep.has(key)) continue;
      try {
        await this.remove(key);
        removed.push(key);
      } catch (err) {
        this.log.error({ key, err: errorMessage(err) }, 'cannot remove a shared network left by a pod that is gone');
      }
    }
    if (removed.length > 0) this.log.info({ keys: removed }, 'removed shared networks of pods this executor no longer has');
    return removed;
  }

  /** The key's running sandbox, or a new one (a stopped one, after an engine restart, is replaced). */
  private async ensure(shared: SharedNetworkRequest, signal: AbortSignal): Promise<PartGrant> {
    const request: SandboxRequest = { ...sharedSandboxRef(shared.key), hostname: shared.hostname };
    const existing = await this.sandboxes.find(request);
    if (existing?.state === 'running') {
      // Its files were written when it was made; rewriting them would empty them under running containers.
      const sandbox = await this.sandboxes.running(existing.id, existing.name);
      return { networkMode: `container:${sandbox.id}`, mounts: networkFileMounts(sandbox) };
    }
    const sandbox = await this.sandboxes.createSandbox(request, signal);
    this.log.info({ key: shared.key, sandbox: sandbox.id.slice(0, 12), replaced: existing?.state }, 'shared network created');
    // Its own hostname on loopback: there is no other address to give it.
    const mounts = await this.sandboxes.writeNetworkFiles(sandbox, shared.hostname, [OWN_NAME_ADDRESS]);
    return { networkMode: `container:${sandbox.id}`, mounts };
  }
}
