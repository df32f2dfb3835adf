/**
 * How a write the task store refused (a full state directory) is retried: soon
 * at first, then every few seconds, for as long as it takes; nothing is given
 * up, because giving up would mean streaming what the store does not have.
 */
const FIRST_DELAY_MS = 100;
export const MAX_STORE_RETRY_DELAY_MS = 5000;

export const storeRetryDelayMs = (attempt: number): number => Math.min(MAX_STORE_RETRY_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(Math.max(0, attempt - 1), 16));

/** Logged on the first failure and then every tenth, so a full disk does not flood the journal. */
export const shouldLogStoreRetry = (attempt: number): boolean => attempt === 1 || attempt % 10 === 0;
