import { StringDecoder } from 'node:string_decoder';
import type { ContainerOutputLine } from './container-runtime.js';
import { normalizeTimestamp, timestampFromMs } from './output-timestamp.js';

const HEADER_BYTES = 8;

/**
 * Parses the engine's log stream (GET /containers/{id}/logs with
 * `timestamps`) as it arrives, chunk by chunk.
 *
 * Without a TTY each message is a frame: one byte of stream (1 stdout,
 * 2 stderr), three of padding, a big-endian uint32 length, then the message;
 * chunks split frames anywhere, so bytes wait here until their frame is whole.
 * A TTY container's stream has no frames at all: it is read as stdout lines.
 * Each message starts with its time and a space. The engine cuts lines longer
 * than 16 KiB into several messages, and each becomes a line here.
 */
export class OutputFrameParser {
  private pending: Buffer = Buffer.alloc(0);
  /** Decided on the first bytes: framed (the usual case) or a TTY's raw text. */
  private framed: boolean | undefined;
  private readonly rawDecoder = new StringDecoder('utf8');
  private rawText = '';
  /** A message whose time cannot be read takes the previous one's, so the order holds. */
  private lastTimestamp: string | undefined;

  push(chunk: Buffer): ContainerOutputLine[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.framed === undefined) {
      if (this.pending.length < 4) return [];
      const b = this.pending;
      this.framed = (b[0] === 0 || b[0] === 1 || b[0] === 2) && b[1] === 0 && b[2] === 0 && b[3] === 0;
    }
    return this.framed ? this.takeFrames() : this.takeRaw(false);
  }

  /** The stream ended: whatever is left is the last line (a TTY's unterminated output, or a torn frame's bytes). */
  end(): ContainerOutputLine[] {
    if (this.framed === false || this.framed === undefined) return this.takeRaw(true);
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    // A frame cut short by the engine going away: keep what arrived rather than nothing.
    if (rest.length <= HEADER_BYTES) return [];
    return this.messageLines(rest[0] === 2 ? 'stderr' : 'stdout', rest.subarray(HEADER_BYTES).toString('utf8'));
  }

  private takeFrames(): ContainerOutputLine[] {
    const out: ContainerOutputLine[] = [];
    let off = 0;
    const buf = this.pending;
    while (off + HEADER_BYTES <= buf.length) {
      const size = buf.readUInt32BE(off + 4);
      if (off + HEADER_BYTES + size > buf.length) break;
      const stream = buf[off] === 2 ? 'stderr' : 'stdout';
      out.push(...this.messageLines(stream, buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + size).toString('utf8')));
      off += HEADER_BYTES + size;
    }
    this.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    return out;
  }

  private takeRaw(final: boolean): ContainerOutputLine[] {
    this.rawText += this.rawDecoder.write(this.pending);
    this.pending = Buffer.alloc(0);
    if (final) this.rawText += this.rawDecoder.end();
    const parts = this.rawText.split('\n');
    const rest = parts.pop() ?? '';
    this.rawText = final ? '' : rest;
    if (final && rest !== '') parts.push(rest);
    return parts.flatMap((p) => this.messageLines('stdout', p.replace(/\r$/, '')));
  }

  /** One message (normally one line) without its frame: `<time> <text>\n`. */
  private messageLines(stream: 'stdout' | 'stderr', message: string): ContainerOutputLine[] {
    const body = message.endsWith('\n') ? message.slice(0, -1) : message;
    return body.split('\n').map((part) => {
      const space = part.indexOf(' ');
      const ts = space > 0 ? normalizeTimestamp(part.slice(0, space)) : normalizeTimestamp(part);
      if (ts !== undefined) {
        this.lastTimestamp = ts;
        return { stream, timestamp: ts, text: space > 0 ? part.slice(space + 1) : '' };
      }
      this.lastTimestamp ??= timestampFromMs(Date.now());
      return { stream, timestamp: this.lastTimestamp, text: part };
    });
  }
}
