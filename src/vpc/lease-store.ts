import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** The addresses one task holds. */
export interface Lease {
  readonly taskId: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** Where IPAM keeps its leases between executor runs. */
export interface LeaseStore {
  load(): Promise<Lease[]>;
  save(leases: readonly Lease[]): Promise<void>;
}

const leaseFileSchema = z.object({
  version: z.literal(1),
  leases: z.array(z.object({ taskId: z.string().min(1), ipv4: z.string().optional(), ipv6: z.string().optional() })),
});

/** Keeps nothing: the default when no lease file is configured. */
export class MemoryLeaseStore implements LeaseStore {
  private leases: Lease[] = [];

  async load(): Promise<Lease[]> {
    return [...this.leases];
  }

  async save(leases: readonly Lease[]): Promise<void> {
    this.leases = [...leases];
  }
}

/**
 * Leases in one JSON file, replaced atomically (write a temporary file beside
 * it, fsync, rename, fsync the directory) so a crash leaves either the old or
 * the new file, never a torn one.
 */
export class JsonFileLeaseStore implements LeaseStore {
  constructor(readonly path: string) {}

  async load(): Promise<Lease[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = leaseFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`lease file ${this.path} is malformed: ${parsed.error.message}`);
    return parsed.data.leases;
  }

  async save(leases: readonly Lease[]): Promise<void> {
    const directory = dirname(this.path);
    await mkdir(directory, { recursive: true });
    const temporary = join(directory, `.${basename(this.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const body = `${JSON.stringify({ version: 1, leases }, null, 2)}\n`;
    try {
      await writeAndSync(temporary, body);
      await rename(temporary, this.path);
    } catch (err) {
      await unlink(temporary).catch(() => undefined);
      throw err;
    }
    await syncDirectory(directory);
  }
}

const writeAndSync = async (path: string, body: string): Promise<void> => {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.writeFile(body, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Makes the rename itself durable. */
const syncDirectory = async (directory: string): Promise<void> => {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};
