import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidArgument } from '../common/errors.js';
import type { BindMount } from '../task/task-service.js';
import { efsConfigInfoSchema, type EfsConfigEntry } from '../task/efs-config.js';
import { configMapValues, secretValues, type PodData } from './pod-env.js';
import type { K8sConfigMap, K8sContainer, K8sPod, K8sVolume } from './pod-schema.js';

/** What interLink resolved for the pod's projected and downward-API volumes: file path → content, per volume name. */
export interface VolumeData extends PodData {
  readonly projected: ReadonlyMap<string, K8sConfigMap>;
}

/** Kubernetes' default file mode for ConfigMap, Secret and projected volumes. */
const DEFAULT_MODE = 0o644;

/**
 * The ServiceAccount admission plugin's name for the default token volume
 * (`kube-api-access-<random>`), which interLink does not resolve under 0.3.x or
 * with the virtual kubelet's DisableProjectedVolumes.
 */
const DEFAULT_TOKEN_VOLUME_PREFIX = 'kube-api-access-';

/** What materializeVolumes left out, and why, for the create to warn about. */
export interface SkippedVolumes {
  readonly names: ReadonlySet<string>;
  readonly warnings: readonly string[];
}

/** A relative path that stays inside its volume: no absolute path, no `..`. */
const safeRelative = (path: string, field: string): string => {
  const parts = path.split('/');
  if (path === '' || path.startsWith('/') || parts.some((p) => p === '..' || p === '')) {
    throw invalidArgument(field, `"${path}" must be a relative path without ".." or empty components`);
  }
  return path;
};

const volumeDir = (volumesDir: string, name: string): string => join(volumesDir, name);

/** The volumes some container mounts, with their index in pod.spec.volumes: the others need nothing on disk. */
const mountedVolumes = (pod: K8sPod): Array<[number, K8sVolume]> => {
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const used = new Set(all.flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)));
  return [...(pod.spec.volumes ?? []).entries()].filter(([, v]) => used.has(v.name));
};

/** The volume kinds this plugin provides; every other kind is refused, naming it. */
export const SUPPORTED_VOLUME_KINDS = ['emptyDir', 'configMap', 'secret', 'projected', 'downwardAPI', 'nfs'] as const;

/** The kind a volume names (its one source field besides `name`), or undefined when it names none. */
const volumeKind = (volume: K8sVolume): string | undefined =>
  Object.keys(volume).find((key) => key !== 'name' && volume[key] !== undefined && volume[key] !== null);

/**
 * Writes every mounted volume of the pod under `volumesDir/<volume>`: emptyDirs
 * as empty world-writable directories (as kubelet makes them), ConfigMaps,
 * Secrets and projected volumes as files. Replaces what an interrupted earlier
 * attempt left. Throws INVALID_ARGUMENT for a volume it cannot provide.
 */
export const materializeVolumes = async (volumesDir: string, pod: K8sPod, data: VolumeData): Promise<SkippedVolumes> => {
  await mkdir(volumesDir, { recursive: true, mode: 0o700 });
  const skipped = new Set<string>();
  const warnings: string[] = [];
  for (const [i, volume] of mountedVolumes(pod)) {
    const field = `pod.spec.volumes.${i}`;
    if (volume.nfs) continue; // mounted by the executor from the server (containerNfsMounts), nothing on disk here
    const dir = volumeDir(volumesDir, volume.name);
    await rm(dir, { recursive: true, force: true });
    if (isUnresolvedDefaultToken(volume, data)) {
      // As interLink's slurm plugin does: the pod runs without in-cluster API credentials rather than not at all.
      skipped.add(volume.name);
      warnings.push(`${field}: the service-account token volume ${volume.name} was not resolved by interLink; its mounts are left out`);
      continue;
    }
    await mkdir(dir, { recursive: true });
    const files = volumeFiles(volume, data, field);
    if (files === 'emptyDir') {
      await chmod(dir, 0o777); // any user in any of the pod's containers may write, as with kubelet's emptyDir
      continue;
    }
    await chmod(dir, 0o755);
    for (const f of files) {
      const path = join(dir, f.path);
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      await writeFile(path, f.content, { mode: f.mode });
      await chmod(path, f.mode); // the umask must not decide it
    }
  }
  return { names: skipped, warnings };
};

const isUnresolvedDefaultToken = (volume: K8sVolume, data: VolumeData): boolean =>
  volume.name.startsWith(DEFAULT_TOKEN_VOLUME_PREFIX) && volume.projected !== undefined && volume.projected !== null && !data.projected.has(volume.name);

interface VolumeFile {
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
}

type Items = ReadonlyArray<{ key: string; path: string; mode?: number | null | undefined }> | null | undefined;

/** Selected keys (`items`) or all of them, each at its path with its mode. */
const pick = (values: Map<string, Buffer>, items: Items, defaultMode: number, field: string): VolumeFile[] => {
  if (items === undefined || items === null || items.length === 0) {
    return [...values].map(([key, content]) => ({ path: safeRelative(key, `${field}.key`), content, mode: defaultMode }));
  }
  return items.map((item, j) => {
    const content = values.get(item.key);
    if (content === undefined) throw invalidArgument(`${field}.items.${j}`, `key ${item.key} is not in the object sent with the pod`);
    return { path: safeRelative(item.path, `${field}.items.${j}.path`), content, mode: item.mode ?? defaultMode };
  });
};

const volumeFiles = (volume: K8sVolume, data: VolumeData, field: string): VolumeFile[] | 'emptyDir' => {
  if (volume.emptyDir) return 'emptyDir';
  if (volume.configMap) {
    const src = volume.configMap;
    const cm = data.configMaps.get(src.name);
    if (cm === undefined) {
      if (src.optional === true) return [];
      throw invalidArgument(`${field}.configMap`, `ConfigMap ${src.name} was not sent with the pod`);
    }
    return pick(configMapValues(cm), src.items, src.defaultMode ?? DEFAULT_MODE, `${field}.configMap`);
  }
  if (volume.secret) {
    const src = volume.secret;
    const secret = data.secrets.get(src.secretName);
    if (secret === undefined) {
      if (src.optional === true) return [];
      throw invalidArgument(`${field}.secret`, `Secret ${src.secretName} was not sent with the pod`);
    }
    return pick(secretValues(secret), src.items, src.defaultMode ?? DEFAULT_MODE, `${field}.secret`);
  }
  if (volume.projected || volume.downwardAPI) {
    // interLink resolves both into a ConfigMap named after the volume whose keys are file paths.
    const resolved = data.projected.get(volume.name);
    if (resolved === undefined) throw invalidArgument(field, `projected volume ${volume.name} was not resolved by interLink`);
    const mode = volume.projected?.defaultMode ?? volume.downwardAPI?.defaultMode ?? DEFAULT_MODE;
    return pick(configMapValues(resolved), undefined, mode, `${field}.projected`);
  }
  // The field is the volume entry (what the pod must change); the message names the kind it asked for.
  const kind = volumeKind(volume);
  const supported = `${SUPPORTED_VOLUME_KINDS.slice(0, -1).join(', ')} and ${SUPPORTED_VOLUME_KINDS.at(-1) ?? ''}`;
  throw invalidArgument(field, `volume ${volume.name}: only ${supported} volumes are supported; ${kind === undefined ? 'it names no volume source' : `${kind} is not`}`);
};

/**
 * The bind mounts of one container, at its volumeMounts' paths. ConfigMaps,
 * Secrets and projected volumes are always read-only, as in Kubernetes; a
 * subPath of an emptyDir is created when missing.
 */
export const containerMounts = async (
  volumesDir: string,
  pod: K8sPod,
  container: K8sContainer,
  field: string,
  skipped: ReadonlySet<string> = new Set(),
): Promise<BindMount[]> => {
  const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  const mounts: BindMount[] = [];
  for (const [i, m] of (container.volumeMounts ?? []).entries()) {
    const volume = volumes.get(m.name);
    if (volume === undefined) throw invalidArgument(`${field}.volumeMounts.${i}.name`, `no volume ${m.name} in the pod`);
    if (skipped.has(m.name) || volume.nfs) continue;
    let source = volumeDir(volumesDir, m.name);
    if (m.subPath !== undefined && m.subPath !== null && m.subPath !== '') {
      source = join(source, safeRelative(m.subPath, `${field}.volumeMounts.${i}.subPath`));
      if (volume.emptyDir) {
        await mkdir(source, { recursive: true });
        await chmod(source, 0o777);
      }
    }
    const alwaysReadOnly = volume.emptyDir === undefined || volume.emptyDir === null;
    mounts.push({ source, target: m.mountPath, readOnly: alwaysReadOnly || m.readOnly === true });
  }
  return mounts;
};

/**
 * A container's mounts of nfs volumes, as ContainerInfo.efsConfigInfo entries:
 * the executor mounts them (NFSv4.1, read-only when the volume or the mount
 * says so) before the container starts, like a Titus task's EFS volumes. A
 * subPath is a directory under the export. Checked here so that the 400 names
 * the pod's own field.
 */
export const containerNfsMounts = (pod: K8sPod, container: K8sContainer, field: string): EfsConfigEntry[] => {
  const volumes = new Map((pod.spec.volumes ?? []).map((v, i) => [v.name, { v, i }]));
  const entries: EfsConfigEntry[] = [];
  for (const [j, m] of (container.volumeMounts ?? []).entries()) {
    const found = volumes.get(m.name);
    const nfs = found?.v.nfs;
    if (found === undefined || nfs === undefined || nfs === null) continue;
    const volumeField = `pod.spec.volumes.${found.i}.nfs`;
    const mountField = `${field}.volumeMounts.${j}`;
    const sub = m.subPath !== undefined && m.subPath !== null && m.subPath !== '' ? safeRelative(m.subPath, `${mountField}.subPath`) : undefined;
    const entry: EfsConfigEntry = {
      efsFsId: nfs.server,
      mountPoint: m.mountPath,
      mntPerms: nfs.readOnly === true || m.readOnly === true ? 'RO' : 'RW',
      efsFsRelativeMntPoint: sub === undefined ? nfs.path : `${nfs.path.replace(/\/+$/, '')}/${sub}`,
    };
    const r = efsConfigInfoSchema.safeParse([entry]);
    if (!r.success) {
      const issue = r.error.issues[0];
      const key = String(issue?.path[1] ?? '');
      const at = key === 'efsFsId' ? `${volumeField}.server` : key === 'efsFsRelativeMntPoint' ? (sub === undefined ? `${volumeField}.path` : `${mountField}.subPath`) : `${mountField}.mountPath`;
      throw invalidArgument(at, issue?.message ?? 'invalid');
    }
    entries.push(entry);
  }
  return entries;
};
