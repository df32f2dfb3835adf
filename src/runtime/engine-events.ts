/**
 * The engine's event stream, newline-delimited JSON, cut into events. Only
 * `die` matters here: the container's process has exited and dockerd has
 * copied all of its output into the log (it drains the streams and closes the
 * logger before it emits `die`), a few ms before it has finished cleaning up
 * (unmounts, network release) and before a stop or wait on it answers.
 */
export class EventLines {
  private rest = '';

  constructor(private readonly onDie: (containerId: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.rest + chunk.toString();
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
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
