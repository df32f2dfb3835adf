import { ExecutorError } from '../common/errors.js';
import { canonicalAddress } from './addresses.js';
import type { TaskDirectory, TaskDirectoryEvents, TaskDirectoryListener, TaskIdentityInfo } from './types.js';

/**
 * The directory the runtime feeds: `attachTask` once the task's addresses are
 * configured (before its process runs), `detachTask` when its network goes
 * away. An address belongs to at most one task, so a stale or duplicate
 * attachment can never make one task answer as another.
 */
export class InMemoryTaskDirectory implements TaskDirectory, TaskDirectoryEvents {
  private readonly byId = new Map<string, TaskIdentityInfo>();
  private readonly byAddress = new Map<string, string>();
  private readonly listeners = new Set<TaskDirectoryListener>();

  attachTask(given: TaskIdentityInfo): void {
    const task = withCanonicalAddresses(given);
    const addresses = addressesOf(task);
    if (addresses.length === 0) {
      throw new ExecutorError('INVALID_ARGUMENT', `metadata proxy: task ${task.taskId} has no IPv4 or IPv6 address`);
    }
    for (const address of addresses) {
      const owner = this.byAddress.get(address);
      if (owner !== undefined && owner !== task.taskId) {
        throw new ExecutorError('ALREADY_EXISTS', `metadata proxy: address ${address} already belongs to task ${owner}`);
      }
    }
    this.removeAddresses(task.taskId);
    this.byId.set(task.taskId, task);
    for (const address of addresses) this.byAddress.set(address, task.taskId);
    for (const l of this.listeners) l.attached?.(task);
  }

  detachTask(taskId: string): void {
    if (!this.byId.has(taskId)) return;
    this.removeAddresses(taskId);
    this.byId.delete(taskId);
    for (const l of this.listeners) l.detached?.(taskId);
  }

  taskByAddress(ip: string): TaskIdentityInfo | undefined {
    const address = canonicalAddress(ip);
    const taskId = address === undefined ? undefined : this.byAddress.get(address);
    return taskId === undefined ? undefined : this.byId.get(taskId);
  }

  taskById(taskId: string): TaskIdentityInfo | undefined {
    return this.byId.get(taskId);
  }

  tasks(): TaskIdentityInfo[] {
    return [...this.byId.values()];
  }

  onChange(listener: TaskDirectoryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private removeAddresses(taskId: string): void {
    const previous = this.byId.get(taskId);
    if (previous === undefined) return;
    for (const address of addressesOf(previous)) {
      if (this.byAddress.get(address) === taskId) this.byAddress.delete(address);
    }
  }
}

const addressesOf = (task: TaskIdentityInfo): string[] => {
  const out: string[] = [];
  for (const raw of [task.ipv4Address, task.ipv6Address]) {
    if (raw === undefined) continue;
    const address = canonicalAddress(raw);
    if (address === undefined) {
      throw new ExecutorError('INVALID_ARGUMENT', `metadata proxy: task ${task.taskId} has an invalid address ${raw}`);
    }
    out.push(address);
  }
  return out;
};

/** Addresses as the proxy will answer them (fd00:7175::b, not FD00:7175::0:B). */
const withCanonicalAddresses = (task: TaskIdentityInfo): TaskIdentityInfo => ({
  ...task,
  ...(task.ipv4Address === undefined ? {} : { ipv4Address: canonicalAddress(task.ipv4Address) ?? task.ipv4Address }),
  ...(task.ipv6Address === undefined ? {} : { ipv6Address: canonicalAddress(task.ipv6Address) ?? task.ipv6Address }),
});

export const hasDirectoryEvents = (d: TaskDirectory): d is TaskDirectory & TaskDirectoryEvents =>
  typeof (d as Partial<TaskDirectoryEvents>).onChange === 'function';
