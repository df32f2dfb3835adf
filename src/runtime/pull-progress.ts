/** How far an image pull has come, summed over its layers. */
export interface PullProgress {
  readonly image: string;
  readonly currentBytes: number;
  readonly totalBytes: number;
  readonly layersDone: number;
  readonly layersTotal: number;
}

/** One line of the engine's JSON pull stream. */
export interface PullStreamEvent {
  readonly status?: string;
  readonly id?: string;
  readonly progressDetail?: { readonly current?: number; readonly total?: number };
  readonly error?: string;
  readonly errorDetail?: { readonly message?: string };
}

interface Layer {
  current: number;
  total: number;
  done: boolean;
}

/**
 * Folds the per-layer pull stream into one figure: bytes downloaded of the
 * bytes known so far, and layers finished. Layers appear as the engine learns
 * of them, so the total can grow during a pull.
 */
export class PullProgressTracker {
  private readonly layers = new Map<string, Layer>();

  constructor(private readonly image: string) {}

  /** Applies one event; returns the error text if the event reports a failure. */
  apply(event: PullStreamEvent): string | undefined {
    if (event.error !== undefined) return event.errorDetail?.message ?? event.error;
    const id = event.id;
    const status = event.status ?? '';
    if (id === undefined || !/^[a-f0-9]{12,}$/.test(id)) return undefined;
    const layer = this.layers.get(id) ?? { current: 0, total: 0, done: false };
    this.layers.set(id, layer);
    if (status === 'Downloading') {
      layer.current = event.progressDetail?.current ?? layer.current;
      layer.total = event.progressDetail?.total ?? layer.total;
    } else if (status === 'Download complete' || status === 'Verifying Checksum') {
      layer.current = layer.total;
    } else if (status === 'Pull complete' || status === 'Already exists') {
      layer.current = layer.total;
      layer.done = true;
    }
    return undefined;
  }

  snapshot(): PullProgress {
    let currentBytes = 0;
    let totalBytes = 0;
    let layersDone = 0;
    for (const l of this.layers.values()) {
      currentBytes += l.current;
      totalBytes += l.total;
      if (l.done) layersDone += 1;
    }
    return { image: this.image, currentBytes, totalBytes, layersDone, layersTotal: this.layers.size };
  }
}
