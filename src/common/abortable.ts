/**
 * Waits that give up when a signal aborts. Written once here: the log
 * streams, the interLink server, the log collector and the task runner all
 * wait on a timer or on a stream and must stop waiting when their caller goes.
 */

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once if it already
 * has): true when the whole time passed, false when aborted.
 */
export const sleepUnlessAborted = (ms: number, signal: AbortSignal): Promise<boolean> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const done = (slept: boolean) => (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', aborted);
      resolve(slept);
    };
    const aborted = done(false);
    const timer = setTimeout(done(true), ms);
    signal.addEventListener('abort', aborted, { once: true });
  });

/** Resolves when a writable stream with a full buffer emits 'drain', or when `signal` aborts (the reader went). */
export const drained = (stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    stream.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
