import { ExecutorError } from '../common/errors.js';
import type { SecurityGroupCatalog, SecurityGroupRule } from './config.js';

/** The union of a task's security groups, the way EC2 combines them: any rule that allows, allows. */
export interface EffectiveRules {
  readonly groups: readonly string[];
  readonly ingress: readonly SecurityGroupRule[];
  /** 'allow-all' when any group allows all egress. */
  readonly egress: 'allow-all' | readonly SecurityGroupRule[];
}

/**
 * Resolves group names against the catalog. Throws INVALID_ARGUMENT naming
 * every unknown group; call it before creating anything, so a bad request
 * leaves no trace on the host.
 */
export const resolveSecurityGroups = (
  requested: readonly string[],
  catalog: SecurityGroupCatalog,
  defaults: readonly string[],
): EffectiveRules => {
  const names = [...new Set(requested.length > 0 ? requested : defaults)];
  if (names.length === 0) {
    throw new ExecutorError('INVALID_ARGUMENT', 'at least one security group is required', { field: 'securityGroups' });
  }
  const unknown = names.filter((name) => !Object.hasOwn(catalog, name));
  if (unknown.length > 0) {
    const noun = unknown.length === 1 ? 'security group' : 'security groups';
    throw new ExecutorError('INVALID_ARGUMENT', `unknown ${noun} ${unknown.join(', ')}`, { field: 'securityGroups' });
  }
  const groups = names.map((name) => catalog[name]).filter((group) => group !== undefined);
  const ingress = groups.flatMap((group) => group.ingress);
  const egress = groups.some((group) => group.egress === 'allow-all')
    ? 'allow-all'
    : groups.flatMap((group) => (group.egress === 'allow-all' ? [] : group.egress));
  return { groups: names, ingress, egress };
};
