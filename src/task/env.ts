import type { ContainerInfo } from './container-info.js';
import type { TaskResources } from './types.js';
import type { ImageRef } from '../runtime/image-ref.js';

export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Docker rejects env entries with NUL bytes; Linux caps one argument/env string at 128 KiB. */
const MAX_ENV_VALUE_BYTES = 128 * 1024;

export interface EnvResult {
  readonly env: Record<string, string>;
  /** Names that were skipped, with why; logged as warnings, never fatal. */
  readonly skipped: readonly string[];
}

export interface EnvInput {
  readonly taskId: string;
  readonly info: ContainerInfo;
  readonly resources: TaskResources;
  readonly image: ImageRef;
  readonly hardCoded: Readonly<Record<string, string>>;
}

/**
 * The container environment, lowest to highest priority as Netflix's executor
 * built it: hard-coded defaults, resources, cluster naming, the user's env (with
 * Titus-provided values overriding user ones), then the executor's overrides.
 */
export const buildEnv = (input: EnvInput): EnvResult => {
  const { info, resources, image } = input;
  const env: Record<string, string> = {};
  const skipped: string[] = [];
  const put = (name: string, value: string): void => {
    if (!ENV_NAME_RE.test(name)) {
      skipped.push(`${JSON.stringify(name)}: not a valid variable name`);
      return;
    }
    if (value.includes('\0') || Buffer.byteLength(value) > MAX_ENV_VALUE_BYTES) {
      skipped.push(`${name}: value contains NUL or exceeds ${MAX_ENV_VALUE_BYTES} bytes`);
      return;
    }
    env[name] = value;
  };
  for (const [k, v] of Object.entries(input.hardCoded)) put(k, v);
  putResources(put, resources);
  putClusterNames(put, info, image);
  for (const [k, v] of userEnv(info)) put(k, v);
  putOverrides(put, input);
  return { env, skipped };
};

type Put = (name: string, value: string) => void;

const putResources = (put: Put, r: TaskResources): void => {
  put('TITUS_NUM_CPU', String(r.cpu));
  put('TITUS_NUM_MEM', String(r.memoryMb));
  put('TITUS_NUM_DISK', String(r.diskMb));
  put('TITUS_NUM_NETWORK_BANDWIDTH', String(r.networkMbps));
  put('TITUS_NUM_GPU', String(r.gpus));
};

/** Frigga cluster naming: app-stack-detail, and the ASG name cluster-vNNN. */
const putClusterNames = (put: Put, info: ContainerInfo, image: ImageRef): void => {
  const app = nonEmpty(info.appName) ? info.appName : appFromImage(image.repository);
  const stack = info.jobGroupStack ?? '';
  const detail = info.jobGroupDetail ?? '';
  put('NETFLIX_APP', app);
  if (stack !== '') put('NETFLIX_STACK', stack);
  if (detail !== '') put('NETFLIX_DETAIL', detail);
  let cluster = app;
  if (stack !== '' || detail !== '') cluster += `-${stack}`;
  if (detail !== '') cluster += `-${detail}`;
  put('NETFLIX_CLUSTER', cluster);
  put('NETFLIX_AUTO_SCALE_GROUP', `${cluster}-${nonEmpty(info.jobGroupSequence) ? info.jobGroupSequence : 'v000'}`);
};

const appFromImage = (repository: string): string => {
  const last = repository.split('/').pop() ?? repository;
  return last.replace(/[^A-Za-z0-9]/g, '');
};

/** User env merged with Titus env (Titus wins); the legacy list only when both maps are empty. */
const userEnv = (info: ContainerInfo): Array<[string, string]> => {
  const user = info.userProvidedEnv ?? {};
  const titus = info.titusProvidedEnv ?? {};
  if (Object.keys(user).length === 0 && Object.keys(titus).length === 0) {
    return (info.environmentVariable ?? [])
      .filter((e) => nonEmpty(e.name) && e.value !== undefined && e.value !== '')
      .map((e) => [e.name ?? '', e.value ?? '']);
  }
  const merged = { ...user, ...titus };
  return Object.entries(merged).filter(([k, v]) => k !== '' && v !== '');
};

const putOverrides = (put: Put, { taskId, info, image }: EnvInput): void => {
  put('TITUS_IMAGE_NAME', image.repository);
  if (image.tag !== undefined) put('TITUS_IMAGE_TAG', image.tag);
  if (image.digest !== undefined) put('TITUS_IMAGE_DIGEST', image.digest);
  if (nonEmpty(info.iamProfile)) put('TITUS_IAM_ROLE', info.iamProfile);
  if (info.batch === true) {
    put('TITUS_BATCH', info.passthroughAttributes?.['titusParameter.agent.batchPriority'] === 'idle' ? 'idle' : 'true');
  }
  if (!nonEmpty(info.titusProvidedEnv?.['TITUS_TASK_ID'])) put('TITUS_TASK_ID', taskId);
};

const nonEmpty = (s: string | undefined): s is string => s !== undefined && s !== '';
