/**
 * The engine's own record of when containers died: `die` events carry the
 * daemon's timeNano, the earliest moment anyone could know of an exit.
 */
import type Docker from 'dockerode';

interface EngineEvent {
  readonly Action?: string;
  readonly Actor?: { readonly Attributes?: Readonly<Record<string, string>> };
  readonly timeNano?: number;
}

export class DieEvents {
  /** Container name → die time in ms since the epoch (fractional). */
  private readonly diedAt = new Map<string, number>();
  private readonly waiters = new Map<string, (ms: number) => void>();

  private constructor(private readonly stream: NodeJS.ReadableStream) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.onEvent(JSON.parse(line) as EngineEvent);
    });
    stream.on('error', () => undefined); // destroyed on close()
  }

  static async open(docker: Docker): Promise<DieEvents> {
    const stream = await docker.getEvents({ filters: { type: ['container'], event: ['die'] } });
    return new DieEvents(stream);
  }

  /** When the container named `name` died; waits for the event if it has not arrived yet. */
  diedAtMs(name: string, timeoutMs = 30_000): Promise<number> {
    const known = this.diedAt.get(name);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(name);
        reject(new Error(`no die event for container ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(name, (ms) => {
        clearTimeout(timer);
        resolve(ms);
      });
    });
  }

  close(): void {
    (this.stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }

  private onEvent(e: EngineEvent): void {
    const name = e.Actor?.Attributes?.['name'];
    if (e.Action !== 'die' || name === undefined || e.timeNano === undefined) return;
    const ms = e.timeNano / 1e6;
    this.diedAt.set(name, ms);
    this.waiters.get(name)?.(ms);
    this.waiters.delete(name);
  }
}
