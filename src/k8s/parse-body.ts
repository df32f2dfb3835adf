import type { z } from 'zod';
import { ExecutorError } from '../common/errors.js';

/** Validates a request body; the first problem becomes an INVALID_ARGUMENT naming its field. */
export const parseBody = <T>(schema: z.ZodType<T>, value: unknown, prefix: string): T => {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== '').join('.');
  throw new ExecutorError('INVALID_ARGUMENT', `${path}: ${issue?.message ?? 'invalid'}`, { field: path });
};
