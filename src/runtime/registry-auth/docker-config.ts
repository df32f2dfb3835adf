import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { RegistryAuthError, type RegistryCredentials } from './credentials.js';
import { hostOfAuthKey } from './registry-host.js';

/**
 * Docker's `config.json` as far as pulls need it. Unknown fields (proxies,
 * psFormat, …) are allowed: operators point this at a real Docker config.
 */
const authEntry = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
});
const helperName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a helper name (docker-credential-<name>)');
export const dockerConfigSchema = z.looseObject({
  auths: z.record(z.string(), authEntry).optional(),
  credHelpers: z.record(z.string(), helperName).optional(),
  credsStore: helperName.optional(),
});
export type DockerConfig = z.infer<typeof dockerConfigSchema>;

/** What a config says about one registry: credentials, a helper to ask, or nothing. */
export type ConfigAnswer =
  | { readonly kind: 'credentials'; readonly credentials: RegistryCredentials }
  | { readonly kind: 'helper'; readonly helper: string }
  | { readonly kind: 'none' };

/** Parses config.json text; the message names the field, never a value. */
export const parseDockerConfig = (text: string, what: string): DockerConfig => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new RegistryAuthError(true, `${what} is not JSON`);
  }
  const parsed = dockerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RegistryAuthError(true, `${what} is not a Docker config.json: ${problems}`);
  }
  return parsed.data;
};

export const readDockerConfig = async (path: string): Promise<DockerConfig> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RegistryAuthError(true, `cannot read the registry auths file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  return parseDockerConfig(text, `the registry auths file ${path}`);
};

/**
 * Docker's order: a `credHelpers` entry for the registry, else the
 * `credsStore`, else the `auths` entry (its key compared as a host name).
 */
export const lookUp = (config: DockerConfig, registry: string, source: string): ConfigAnswer => {
  const helper = Object.entries(config.credHelpers ?? {}).find(([key]) => hostOfAuthKey(key) === registry)?.[1];
  if (helper !== undefined) return { kind: 'helper', helper };
  if (config.credsStore !== undefined && config.credsStore !== '') return { kind: 'helper', helper: config.credsStore };
  const entry = Object.entries(config.auths ?? {}).find(([key]) => hostOfAuthKey(key) === registry);
  if (entry === undefined) return { kind: 'none' };
  const [key, value] = entry;
  const credentials = entryCredentials(value, registry, `${source} (auths.${key})`);
  return credentials === undefined ? { kind: 'none' } : { kind: 'credentials', credentials };
};

const entryCredentials = (e: z.infer<typeof authEntry>, registry: string, source: string): RegistryCredentials | undefined => {
  if (e.identitytoken !== undefined && e.identitytoken !== '') {
    return { identitytoken: e.identitytoken, serveraddress: registry, source, ...(userOf(e) ?? {}) };
  }
  const user = userOf(e, source);
  return user === undefined ? undefined : { ...user, serveraddress: registry, source };
};

/** username/password, or `auth` = base64("user:password") as `docker login` writes it. */
const userOf = (e: z.infer<typeof authEntry>, source?: string): { username: string; password: string } | undefined => {
  if (e.auth !== undefined && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      if (source === undefined) return undefined;
      throw new RegistryAuthError(true, `${source}: "auth" is not base64 of user:password`);
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (e.username !== undefined && e.password !== undefined) return { username: e.username, password: e.password };
  return undefined;
};
