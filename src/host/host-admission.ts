import type { Logger } from '../common/log.js';
import { checkFits, type ResourceAmounts } from './admission.js';
import { DrainSwitch, type DrainStatus } from './drain-switch.js';
import { HostInventory, type HostCapacity } from './host-inventory.js';
import type { HostConfig } from './host-config.js';

/**
 * The host's side of admitting a task: the drain flag, then the capacity
 * check. The task manager asks it before any part reserves anything.
 */
export class HostAdmission {
  readonly drain: DrainSwitch;
  readonly inventory: HostInventory;

  constructor(config: { readonly host: HostConfig; readonly stateDir: string }, log: Logger) {
    this.drain = new DrainSwitch(config.stateDir, log);
    this.inventory = new HostInventory(config.host, config.stateDir);
  }

  /** UNAVAILABLE while draining. */
  refuseIfDraining(): void {
    this.drain.refuseIfDraining();
  }

  /** INVALID_ARGUMENT beyond the host's totals, RESOURCE_EXHAUSTED beyond what is free. */
  checkFits(asked: ResourceAmounts, allocated: ResourceAmounts): void {
    checkFits(asked, allocated, this.inventory.capacity().totals);
  }

  capacity(): HostCapacity {
    return this.inventory.capacity();
  }

  drainStatus(): DrainStatus {
    return this.drain.status();
  }
}
