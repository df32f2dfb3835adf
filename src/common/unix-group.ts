import { execFileSync } from 'node:child_process';
import { ExecutorError } from './errors.js';

/**
 * A group name (or a number) as a gid, through NSS (`getent`), so groups from
 * LDAP or sssd resolve as they do for the shell. `setting` names the config key
 * in the error, for the operator to fix.
 */
export const groupId = (group: string, setting: string): number => {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    const gid = Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
    if (Number.isInteger(gid)) return gid;
  } catch {
    // getent exits 2 for an unknown group
  }
  throw new ExecutorError('FAILED_PRECONDITION', `socket group ${group} does not exist (create it or unset ${setting})`);
};
