import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CommandError, runCommand } from '../../common/command-runner.js';
import { RegistryAuthError, type RegistryCredentials } from './credentials.js';
import { helperServerUrl } from './registry-host.js';

/** What `docker-credential-<name> get` prints (docker-credential-helpers' protocol). */
const helperAnswer = z.looseObject({ ServerURL: z.string().optional(), Username: z.string(), Secret: z.string() });

/** The helpers' own answer when they have nothing for the server: not an error, just no credentials. */
const NOT_FOUND = /credentials not found/i;

export interface CredentialHelperOptions {
  readonly dirs: readonly string[];
  readonly timeoutMs: number;
}

/** The helper's path: the first of `dirs` that has it, else its bare name (found on PATH). */
const helperPath = async (name: string, dirs: readonly string[]): Promise<string> => {
  const file = `docker-credential-${name}`;
  for (const dir of dirs) {
    const candidate = join(dir, file);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this one
    }
  }
  return file;
};

/**
 * Runs `docker-credential-<name> get` with the server URL on stdin. Its
 * stdout holds the secret, so it never goes into a message: only the
 * helper's exit code, and its own "not found" wording.
 */
export const runCredentialHelper = async (name: string, registry: string, o: CredentialHelperOptions): Promise<RegistryCredentials | undefined> => {
  const path = await helperPath(name, o.dirs);
  const source = `credential helper ${name}`;
  let stdout: string;
  try {
    const res = await runCommand([path, 'get'], { input: helperServerUrl(registry), timeoutMs: o.timeoutMs, allowFailure: true });
    if (res.code !== 0) {
      if (NOT_FOUND.test(res.stdout) || NOT_FOUND.test(res.stderr)) return undefined;
      throw new RegistryAuthError(false, `${source} failed for ${registry} (exit code ${res.code})`);
    }
    stdout = res.stdout;
  } catch (err) {
    if (err instanceof RegistryAuthError) throw err;
    const why = err instanceof CommandError ? (err.reason === 'timeout' ? `did not answer within ${o.timeoutMs} ms` : 'could not be started') : 'failed';
    throw new RegistryAuthError(err instanceof CommandError && err.reason === 'spawn', `${source} (${path}) ${why} for ${registry}`, { cause: err });
  }
  let parsed: z.infer<typeof helperAnswer>;
  try {
    parsed = helperAnswer.parse(JSON.parse(stdout));
  } catch {
    throw new RegistryAuthError(true, `${source} answered for ${registry} with something other than {ServerURL, Username, Secret}`);
  }
  // docker-credential-helpers' convention: Username "<token>" means Secret is an identity token.
  if (parsed.Username === '<token>') return { identitytoken: parsed.Secret, serveraddress: registry, source };
  return { username: parsed.Username, password: parsed.Secret, serveraddress: registry, source };
};
