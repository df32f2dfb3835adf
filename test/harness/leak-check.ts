/**
 * Leak checks for tests: what a harness engine, or a stopped harness, still has.
 */
import { mountsUnder } from './mounts.js';
import { processesUsing } from './proc.js';
import type { DockerOptions } from './dockerd.js';
import type { CommandResult } from '../../src/common/command-runner.js';

interface HasDocker {
  docker(args: string[], opts?: DockerOptions): Promise<CommandResult>;
}

/** Full ids of the containers (all states) in the harness engine with label `key` (=`value` when given). */
export const containersWithLabel = async (h: HasDocker, key: string, value?: string): Promise<string[]> => {
  const filter = value === undefined ? `label=${key}` : `label=${key}=${value}`;
  const { stdout } = await h.docker(['ps', '-a', '-q', '--no-trunc', '--filter', filter]);
  return stdout.split('\n').filter((id) => id !== '');
};

export interface Leftovers {
  /** Live processes (dockerd, containerd, shims, containers, registry) tied to the dir. */
  readonly pids: number[];
  readonly mounts: string[];
}

/** What is left of a harness dir (its dir is `dirname(h.dockerSocket)`); both lists are empty after a clean stop(). */
export const leftoversOf = (dir: string): Leftovers => ({ pids: processesUsing(dir), mounts: mountsUnder(dir) });
