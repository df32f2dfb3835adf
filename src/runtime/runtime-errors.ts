/**
 * Why an engine call failed, classified once in the adapter (by HTTP status
 * where the engine gives one) so the task core decides FAILED versus LOST
 * without looking at message text.
 */
export type RuntimeFailureKind =
  | 'image-not-found' // no such repository, tag or digest: the request is wrong
  | 'pull-failed' // the engine or registry refused a pull for another reason it gave (unreachable registry, bad layer)
  | 'pull-denied' // the registry refused the credentials or their absence (unauthorized, denied): not retried
  | 'bad-entrypoint' // the executable does not exist in the image
  | 'conflict' // a container with that name exists
  | 'not-found' // no such container
  | 'engine-unavailable' // the engine socket cannot be reached
  | 'aborted' // cancelled by a kill
  | 'engine'; // anything else the engine reported

export class RuntimeError extends Error {
  constructor(
    readonly kind: RuntimeFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

export const isRuntimeError = (err: unknown, kind?: RuntimeFailureKind): err is RuntimeError =>
  err instanceof RuntimeError && (kind === undefined || err.kind === kind);
