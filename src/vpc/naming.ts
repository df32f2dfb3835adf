import { createHash } from 'node:crypto';

/**
 * Host-side names derived from the task id alone, so detach and GC can find
 * everything without any state. 12 hex digits (48 bits of SHA-256) keep the
 * interface names within Linux's 15 characters; a collision needs ~16 million
 * concurrent tasks to become likely.
 */
const HASH_LENGTH = 12;

export interface TaskNetworkNames {
  readonly hash: string;
  /** Host side of the veth pair. */
  readonly hostVeth: string;
  /** IFB device that shapes traffic leaving the task (ingress of the host veth). */
  readonly ifb: string;
  /** nftables table (family inet) with the task's security-group rules. */
  readonly nftTable: string;
}

export const VETH_PREFIX = 'tx';
export const IFB_PREFIX = 'ti';
export const NFT_TABLE_PREFIX = 'titus_';
/** The task side of the veth pair, inside the task netns. */
export const TASK_INTERFACE = 'eth0';

export const taskHash = (taskId: string): string =>
  createHash('sha256').update(taskId, 'utf8').digest('hex').slice(0, HASH_LENGTH);

export const namesForTask = (taskId: string): TaskNetworkNames => {
  const hash = taskHash(taskId);
  return { hash, hostVeth: `${VETH_PREFIX}${hash}`, ifb: `${IFB_PREFIX}${hash}`, nftTable: `${NFT_TABLE_PREFIX}${hash}` };
};

const hashAfter = (prefix: string, name: string): string | undefined => {
  const match = new RegExp(`^${prefix}([0-9a-f]{${HASH_LENGTH}})$`).exec(name);
  return match?.[1];
};

/** The task hash in a name this driver made, or undefined for anything else on the host. */
export const hashOfVeth = (name: string): string | undefined => hashAfter(VETH_PREFIX, name);
export const hashOfIfb = (name: string): string | undefined => hashAfter(IFB_PREFIX, name);
export const hashOfNftTable = (name: string): string | undefined => hashAfter(NFT_TABLE_PREFIX, name);
