import { invalidArgument } from '../common/errors.js';
import type { K8sConfigMap, K8sContainer, K8sPod, K8sSecret } from './pod-schema.js';
import { parseQuantity } from '../task/quantity.js';

/** The ConfigMaps and Secrets interLink sent with the pod, by name. */
export interface PodData {
  readonly configMaps: ReadonlyMap<string, K8sConfigMap>;
  readonly secrets: ReadonlyMap<string, K8sSecret>;
}

/** A Secret's values as text: `data` is base64 (Go's []byte), `stringData` plain and winning. */
export const secretValues = (secret: K8sSecret): Map<string, Buffer> => {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(secret.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, Buffer.from(v));
  return out;
};

/** A ConfigMap's values: `data` as text, `binaryData` base64. */
export const configMapValues = (cm: K8sConfigMap): Map<string, Buffer> => {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v));
  return out;
};

/**
 * Kubernetes' `$(VAR)` references: replaced when VAR is defined, kept as
 * written otherwise; `$$` is a literal `$`.
 */
export const expandVars = (text: string, vars: Readonly<Record<string, string>>): string => {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const next = text[i + 1];
    if (c !== '$' || next === undefined) {
      out += c;
    } else if (next === '$') {
      out += '$';
      i += 1;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close < 0) {
        out += text.slice(i);
        break;
      }
      const name = text.slice(i + 2, close);
      out += Object.hasOwn(vars, name) ? vars[name] : text.slice(i, close + 1);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
};

/** What a container's env can refer to besides the pod data. */
export interface EnvContext {
  readonly pod: K8sPod;
  readonly container: K8sContainer;
  readonly data: PodData;
  /** The container's resolved CPU (cores) and memory (bytes), for resourceFieldRef without a limit. */
  readonly cpu: number;
  readonly memoryBytes: number;
  readonly field: string;
}

/** The container's environment as Kubernetes builds it: envFrom in order, then env, with `$(VAR)` expanded. */
export const buildPodEnv = (ctx: EnvContext): Record<string, string> => {
  const env: Record<string, string> = {};
  const { container, data, field } = ctx;
  (container.envFrom ?? []).forEach((src, i) => {
    const prefix = src.prefix ?? '';
    if (src.configMapRef) {
      const cm = data.configMaps.get(src.configMapRef.name);
      if (cm === undefined && src.configMapRef.optional !== true) {
        throw invalidArgument(`${field}.envFrom.${i}`, `ConfigMap ${src.configMapRef.name} was not sent with the pod`);
      }
      if (cm !== undefined) for (const [k, v] of configMapValues(cm)) env[prefix + k] = v.toString();
    }
    if (src.secretRef) {
      const secret = data.secrets.get(src.secretRef.name);
      if (secret === undefined && src.secretRef.optional !== true) {
        throw invalidArgument(`${field}.envFrom.${i}`, `Secret ${src.secretRef.name} was not sent with the pod`);
      }
      if (secret !== undefined) for (const [k, v] of secretValues(secret)) env[prefix + k] = v.toString();
    }
  });
  (container.env ?? []).forEach((e, i) => {
    const value = e.valueFrom ? valueFrom(ctx, e.valueFrom, `${field}.env.${i}`) : expandVars(e.value ?? '', env);
    if (value !== undefined) env[e.name] = value;
  });
  return env;
};

type ValueFrom = NonNullable<NonNullable<K8sContainer['env']>[number]['valueFrom']>;

/** undefined: an optional reference that is missing, so the variable is not set. */
const valueFrom = (ctx: EnvContext, from: ValueFrom, field: string): string | undefined => {
  const { data } = ctx;
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const cm = data.configMaps.get(ref.name ?? '');
    const v = cm === undefined ? undefined : configMapValues(cm).get(ref.key);
    if (v === undefined && ref.optional !== true) throw invalidArgument(field, `key ${ref.key} of ConfigMap ${ref.name ?? ''} was not sent with the pod`);
    return v?.toString();
  }
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const secret = data.secrets.get(ref.name ?? '');
    const v = secret === undefined ? undefined : secretValues(secret).get(ref.key);
    if (v === undefined && ref.optional !== true) throw invalidArgument(field, `key ${ref.key} of Secret ${ref.name ?? ''} was not sent with the pod`);
    return v?.toString();
  }
  if (from.fieldRef) return podField(ctx.pod, from.fieldRef.fieldPath);
  if (from.resourceFieldRef) return resourceField(ctx, from.resourceFieldRef, field);
  return undefined;
};

const MAP_FIELD_RE = /^metadata\.(labels|annotations)\['?"?(.+?)'?"?\]$/;

/** The downward API's pod fields; the pod's addresses are not known here, so they read as empty. */
const podField = (pod: K8sPod, path: string): string => {
  const m = MAP_FIELD_RE.exec(path);
  if (m !== null) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
    default:
      return '';
  }
};

/** `limits.cpu` and friends, divided by the divisor and rounded up, as kubelet does. */
const resourceField = (ctx: EnvContext, ref: { resource: string; divisor?: string | number | null }, field: string): string => {
  const [scope, name] = ref.resource.split('.');
  const target = ctx.container;
  const quantities = scope === 'requests' ? target.resources?.requests : target.resources?.limits;
  const raw = name === undefined ? undefined : quantities?.[name];
  const fallback = name === 'cpu' ? ctx.cpu : name === 'memory' ? ctx.memoryBytes : 0;
  const value = raw === undefined ? fallback : parseQuantity(raw, `${field}.valueFrom.resourceFieldRef`);
  const divisor = ref.divisor === undefined || ref.divisor === null ? 1 : parseQuantity(ref.divisor, `${field}.valueFrom.resourceFieldRef.divisor`);
  return String(Math.ceil(value / (divisor === 0 ? 1 : divisor)));
};
