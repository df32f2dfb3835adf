/**
 * A second loopback registry that requires basic auth (Debian's
 * docker-registry with a bcrypt htpasswd file made by apache2-utils'
 * `htpasswd -B`), holding a copy of the harness's busybox image. What a
 * private registry answers an anonymous or wrongly-authenticated pull is
 * therefore the real registry's own answer.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/common/command-runner.js';
import { trackForExitCleanup, untrack } from './exit-cleanup.js';
import type { Harness } from './index.js';
import { startRegistry } from './registry.js';

export interface AuthRegistry {
  /** '127.0.0.1:<port>' */
  readonly address: string;
  /** busybox (the harness's, same config) at `<address>/private/busybox` */
  readonly busyboxRepo: string;
  readonly username: string;
  readonly password: string;
  stop(): Promise<void>;
}

/** A bcrypt htpasswd line; the password goes through stdin, not argv. */
const htpasswdLine = async (username: string, password: string): Promise<string> => {
  const { stdout } = await runCommand(['htpasswd', '-niB', username], { input: `${password}\n` });
  return stdout.trim();
};

/**
 * Starts the registry and copies busybox into it through the harness engine:
 * pull from the open registry, tag, log in (the harness CLI's private config
 * dir), push, log out, and remove both tags so tests start with no image.
 */
export const startAuthRegistry = async (h: Harness, username = 'titus', password = `pw-${randomBytes(12).toString('hex')}`): Promise<AuthRegistry> => {
  const dir = await mkdtemp(join(tmpdir(), 'titus-authreg-'));
  trackForExitCleanup(dir);
  const htpasswdFile = join(dir, 'htpasswd');
  await writeFile(htpasswdFile, `${await htpasswdLine(username, password)}\n`, { mode: 0o600 });
  const registry = await startRegistry(dir, h.runId, { htpasswdFile });
  const stop = async (): Promise<void> => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
    untrack(dir);
  };
  try {
    const busyboxRepo = `${registry.address}/private/busybox`;
    await h.docker(['pull', h.images.busybox]);
    await h.docker(['tag', h.images.busybox, `${busyboxRepo}:latest`]);
    await h.docker(['login', '--username', username, '--password-stdin', registry.address], { input: password });
    try {
      await h.docker(['push', `${busyboxRepo}:latest`]);
    } finally {
      await h.docker(['logout', registry.address], { allowFailure: true });
    }
    await h.docker(['rmi', '-f', `${busyboxRepo}:latest`, h.images.busybox]);
    return { address: registry.address, busyboxRepo, username, password, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
};
