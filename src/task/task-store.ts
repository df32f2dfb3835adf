import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../common/atomic-file.js';
import { errorMessage } from '../common/errors.js';
import { RecordWriteError } from './record-write-error.js';
import { decodeRecord, encodeRecord, type TaskRecord } from './task-record.js';

/** A record file that could not be trusted: torn, edited, or not a record at all. */
export interface CorruptRecord {
  readonly taskId: string;
  readonly file: string;
  readonly reason: string;
  /** Where the file was moved so it is kept for a person to look at, and never read again. */
  readonly quarantinedAs: string;
}

export interface LoadedStore {
  readonly records: TaskRecord[];
  readonly corrupt: CorruptRecord[];
}

const MAGIC = 'titus-task-record';
const FORMAT = 1;
const SUFFIX = '.json';
/** writeFileAtomic's temporaries: `.<name>.<pid>.<random>.tmp`. */
const TEMPORARY_RE = /^\..+\.\d+\.[0-9a-f]+\.tmp$/;
const HEADER_RE = new RegExp(`^${MAGIC} (\\d+) sha256=([0-9a-f]{64}) bytes=(\\d+)$`);

const digest = (body: string): string => createHash('sha256').update(body).digest('hex');

/**
 * One file per task under `<stateDir>/tasks`, each replaced atomically (write,
 * fsync, rename, fsync the directory) on every change. A header line carries a
 * checksum and length of the body, so a torn or edited file is detected and
 * reported instead of being trusted.
 */
export interface TaskStoreOptions {
  /** Told of every record write that failed (a metric); the caller of save() decides what to do. */
  readonly onWriteFailed?: (err: RecordWriteError) => void;
}

export class TaskStore {
  readonly dir: string;
  private readonly sequenceFile: string;

  constructor(
    stateDir: string,
    private readonly options: TaskStoreOptions = {},
  ) {
    this.dir = join(stateDir, 'tasks');
    this.sequenceFile = join(stateDir, 'sequence');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Synchronous on purpose: the caller streams the change only after this
   * returns. Throws RecordWriteError (the old record is intact).
   */
  save(record: TaskRecord): void {
    const body = encodeRecord(record);
    const header = `${MAGIC} ${FORMAT} sha256=${digest(body)} bytes=${Buffer.byteLength(body)}`;
    try {
      writeFileAtomicSync(this.fileFor(record.launch.taskId), `${header}\n${body}\n`, 0o600);
    } catch (err) {
      const failure = new RecordWriteError(record.launch.taskId, err);
      this.options.onWriteFailed?.(failure);
      throw failure;
    }
  }

  /**
   * Several tasks' records at once, off the event loop (a group commit): each
   * is written to a temporary and fsync'd (in parallel), renamed over its
   * record, then the directory is fsync'd once for all. Resolves with each
   * record's RecordWriteError, or undefined where it is stored; never rejects.
   */
  async saveMany(records: readonly TaskRecord[]): Promise<Array<RecordWriteError | undefined>> {
    const results = await Promise.all(records.map((r) => this.writeRecord(r)));
    if (results.some((r) => r === undefined)) {
      try {
        const dir = await open(this.dir, 'r');
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      } catch (err) {
        // The renames may not survive a crash: none of them counts as stored.
        return records.map((r, i) => results[i] ?? this.failed(r.launch.taskId, err));
      }
    }
    return results;
  }

  private async writeRecord(record: TaskRecord): Promise<RecordWriteError | undefined> {
    const file = this.fileFor(record.launch.taskId);
    const temporary = join(this.dir, `.${record.launch.taskId}${SUFFIX}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const body = encodeRecord(record);
      const header = `${MAGIC} ${FORMAT} sha256=${digest(body)} bytes=${Buffer.byteLength(body)}`;
      await writeFile(temporary, `${header}\n${body}\n`, { mode: 0o600, flush: true });
      await rename(temporary, file);
      return undefined;
    } catch (err) {
      await rm(temporary, { force: true }).catch(() => undefined);
      return this.failed(record.launch.taskId, err);
    }
  }

  private failed(taskId: string, err: unknown): RecordWriteError {
    const failure = new RecordWriteError(taskId, err);
    this.options.onWriteFailed?.(failure);
    return failure;
  }

  remove(taskId: string): void {
    rmSync(this.fileFor(taskId), { force: true });
  }

  load(): LoadedStore {
    const records: TaskRecord[] = [];
    const corrupt: CorruptRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (TEMPORARY_RE.test(name)) {
        // A write cut short by a crash: the record it was replacing is intact (or never existed).
        rmSync(join(this.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith(SUFFIX) || name.startsWith('.')) continue; // quarantined files
      const taskId = name.slice(0, -SUFFIX.length);
      const file = join(this.dir, name);
      try {
        const record = this.parse(readFileSync(file, 'utf8'));
        if (record.launch.taskId !== taskId) throw new Error(`it holds task ${record.launch.taskId}`);
        records.push(record);
      } catch (err) {
        const quarantinedAs = join(this.dir, `.${name}.corrupt-${Date.now()}`);
        renameSync(file, quarantinedAs);
        corrupt.push({ taskId, file, reason: errorMessage(err), quarantinedAs });
      }
    }
    return { records, corrupt };
  }

  /** The highest sequence ever handed out, kept apart so removing old records never reuses one. */
  readSequence(): number {
    try {
      const n = Number(readFileSync(this.sequenceFile, 'utf8').trim());
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  writeSequence(sequence: number): void {
    writeFileAtomicSync(this.sequenceFile, `${sequence}\n`, 0o600);
  }

  private parse(text: string): TaskRecord {
    const newline = text.indexOf('\n');
    if (newline < 0) throw new Error('no header line (torn write?)');
    const match = HEADER_RE.exec(text.slice(0, newline));
    if (match === null) throw new Error('unrecognised header line');
    if (Number(match[1]) !== FORMAT) throw new Error(`record format ${match[1]} is not ${FORMAT}`);
    const body = text.slice(newline + 1).replace(/\n$/, '');
    if (Buffer.byteLength(body) !== Number(match[3])) throw new Error(`body is ${Buffer.byteLength(body)} bytes, header says ${match[3]} (torn write?)`);
    if (digest(body) !== match[2]) throw new Error('checksum mismatch');
    return decodeRecord(body);
  }

  private fileFor(taskId: string): string {
    return join(this.dir, `${taskId}${SUFFIX}`);
  }
}
