import { ExecutorError } from '../common/errors.js';
import type { ContainerRuntime, ContainerSummary } from '../runtime/container-runtime.js';

/**
 * The container named `name` when it carries every one of `labels` (made by
 * this executor, for this task and role); undefined when there is none or it
 * belongs to someone else. Container names are task ids, so a name alone
 * proves nothing: run-task, another executor or a person may hold it.
 */
export const ownedContainer = async (
  runtime: Pick<ContainerRuntime, 'listContainers'>,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<ContainerSummary | undefined> => (await runtime.listContainers(labels)).find((c) => c.name === name);

/**
 * After a name conflict at create: removes our own leftover of that name (a
 * crash between create and record), or refuses, touching nothing, when the
 * name belongs to a container this executor did not make.
 */
export const removeOwnLeftover = async (
  runtime: Pick<ContainerRuntime, 'listContainers' | 'removeContainer'>,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<void> => {
  const leftover = await ownedContainer(runtime, name, labels);
  if (leftover === undefined) {
    throw new ExecutorError('INVALID_ARGUMENT', `a container named ${name} exists and does not belong to this executor; use another task id`, {
      field: 'taskId',
    });
  }
  await runtime.removeContainer(leftover.id);
};
