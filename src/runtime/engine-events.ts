import { StringDecoder } from 'node:string_decoder';

/** Far above any real event (a container's labels included). */
const MAX_EVENT_CHARS = 1 << 20;

/**
 * The engine's event stream, newline-delimited JSON, cut into events. Only
 * `die` matters here: the container's process has exited and dockerd has
 * copied all of its output into the log (it drains the streams and closes the
 * logger before it emits `die`), a few ms before it has finished cleaning up
 * (unmounts, network release) and before a stop or wait on it answers.
 */
export class EventLines {
  private rest = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly onDie: (containerId: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    // An engine never sends an event this long; what does not end is not one.
    if (this.rest.length > MAX_EVENT_CHARS) this.rest = '';
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (!line.includes('"die"')) return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return; // not an event: nothing to act on
    }
    if (typeof event !== 'object' || event === null) return;
    const { status, Action, id } = event as { status?: unknown; Action?: unknown; id?: unknown };
    if ((status === 'die' || Action === 'die') && typeof id === 'string') this.onDie(id);
  }
}
