/**
 * Pods' shared network namespaces, as the door that owns pods (interLink)
 * handles them: the core names what it needs; the shared network part
 * (src/parts/shared-network-part.ts) is what provides it.
 */
/** What the owner of shared networks (the interLink service) may do with them. */
export interface SharedNetworks {
  /** Removes the key's sandbox; idempotent. Its tasks must have ended. */
  remove(key: string): Promise<void>;
  /** Removes every shared sandbox whose key is not in `keep` (left by a pod this executor no longer has). */
  removeAllExcept(keep: ReadonlySet<string>): Promise<string[]>;
}
