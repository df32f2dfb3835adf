import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { invalidArgument } from '../common/errors.js';
import type { K8sPod, K8sSecret } from './pod-schema.js';

/**
 * A pod's `imagePullSecrets`, honoured only when the Secrets themselves came
 * with the create request. interLink's virtual kubelet sends the plugin only
 * the Secrets a pod's volumes name (pkg/virtualkubelet/execute.go,
 * remoteExecutionHandleVolumes); it never fetches imagePullSecrets. A pod that
 * names one the plugin did not receive is refused (HTTP 400 naming the field)
 * rather than pulled without it: the pod's author can mount the Secret in a
 * volume so interLink sends it, or the operator can give the executor the
 * registry's credentials (docker.auth).
 */

/** Under the pod's volumes dir; volume names are DNS labels, so a leading dot cannot collide. */
export const PULL_AUTHS_FILE = '.image-pull-auths.json';

const authsSchema = z.record(z.string().min(1), z.looseObject({}));
/** kubernetes.io/dockerconfigjson: `.dockerconfigjson` holds a config.json with `auths`. */
const dockerConfigJson = z.looseObject({ auths: authsSchema });

/** The Secret's key, decoded: `data` is base64 (Go's []byte), `stringData` plain. */
const secretValue = (s: K8sSecret, key: string): string | undefined => {
  const b = s.data?.[key];
  if (b !== undefined) return Buffer.from(b, 'base64').toString('utf8');
  return s.stringData?.[key] ?? undefined;
};

/** The `auths` of one Secret: `.dockerconfigjson`, or the legacy `.dockercfg` (the auths map itself). */
const authsOf = (s: K8sSecret, field: string): Record<string, object> => {
  const json = secretValue(s, '.dockerconfigjson');
  const legacy = json === undefined ? secretValue(s, '.dockercfg') : undefined;
  if (json === undefined && legacy === undefined) {
    throw invalidArgument(field, `Secret ${s.metadata.name} has no .dockerconfigjson (type kubernetes.io/dockerconfigjson) or .dockercfg key`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse((json ?? legacy) as string);
  } catch {
    throw invalidArgument(field, `Secret ${s.metadata.name}: ${json !== undefined ? '.dockerconfigjson' : '.dockercfg'} is not JSON`);
  }
  const parsed = json !== undefined ? dockerConfigJson.safeParse(raw) : authsSchema.safeParse(raw);
  if (!parsed.success) throw invalidArgument(field, `Secret ${s.metadata.name} is not a Docker config (an "auths" map of registry -> credentials)`);
  return json !== undefined ? (parsed.data as z.infer<typeof dockerConfigJson>).auths : (parsed.data as Record<string, object>);
};

/**
 * Writes the auths of every imagePullSecret into one config.json (mode 0600)
 * under `volumesDir` and returns its path; undefined when the pod names none.
 * Earlier Secrets win for a registry, as the kubelet tries them in order.
 */
export const writePullAuths = async (volumesDir: string, pod: K8sPod, secrets: ReadonlyMap<string, K8sSecret>): Promise<string | undefined> => {
  const refs = pod.spec.imagePullSecrets ?? [];
  if (refs.length === 0) return undefined;
  const auths: Record<string, object> = {};
  for (const [i, ref] of refs.entries()) {
    const field = `pod.spec.imagePullSecrets.${i}.name`;
    const secret = secrets.get(ref.name);
    if (secret === undefined) {
      throw invalidArgument(
        field,
        `Secret ${ref.name} did not arrive with the create request (interLink sends only the Secrets a pod's volumes name); ` +
          'the image is not pulled without it: mount the Secret in a volume of the pod, or configure the registry on the executor (docker.auth)',
      );
    }
    for (const [registry, entry] of Object.entries(authsOf(secret, field))) auths[registry] ??= entry;
  }
  const path = join(volumesDir, PULL_AUTHS_FILE);
  await writeFile(path, JSON.stringify({ auths }), { mode: 0o600 });
  return path;
};
