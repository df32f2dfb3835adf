import type { z } from 'zod';
import { ExecutorError } from '../../common/errors.js';

/** `spec.containers[0].env[2]`: the names a Kubernetes user knows fields by. */
export const fieldPath = (parts: ReadonlyArray<PropertyKey>): string =>
  parts.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? String(p) : `${acc}.${String(p)}`), '');

/** An annotation as a field: `metadata.annotations["iam.amazonaws.com/role"]`. */
export const annotationField = (key: string): string => `metadata.annotations[${JSON.stringify(key)}]`;

/** INVALID_ARGUMENT naming the field (or annotation) that is refused. */
export const refuse = (field: string, message: string): ExecutorError => new ExecutorError('INVALID_ARGUMENT', `${field}: ${message}`, { field });

/** The first zod issue as a refusal; a field the schema does not know is named as unsupported. */
export const checkPodPart = <T>(schema: z.ZodType<T>, value: unknown, prefix: ReadonlyArray<PropertyKey>): T => {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [...prefix, ...(issue?.path ?? [])];
  if (issue?.code === 'unrecognized_keys') {
    throw refuse(fieldPath([...path, issue.keys[0] ?? '']), 'is not supported by this executor');
  }
  throw refuse(fieldPath(path) || 'pod', issue?.message ?? 'invalid');
};
