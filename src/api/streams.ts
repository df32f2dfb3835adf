import type * as grpc from '@grpc/grpc-js';

/**
 * Ends a server stream with an error status. grpc-js' `call.destroy(status)`
 * never sends the status (the client would wait forever); an 'error' event does.
 */
export const failStream = (call: grpc.ServerWritableStream<unknown, unknown>, status: Partial<grpc.StatusObject>): void => {
  if (!call.cancelled) call.emit('error', status);
};

/** Open watch streams, so shutdown can end them instead of waiting on them. */
export class WatchRegistry {
  private readonly closers = new Set<() => void>();
  add(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }
  closeAll(): void {
    for (const c of [...this.closers]) c();
  }
}
