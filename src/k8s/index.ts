import { InterlinkServer } from './interlink-server.js';
import { InterlinkService, type InterlinkServiceDeps } from './interlink-service.js';

export { InterlinkServer } from './interlink-server.js';
export { InterlinkService, type InterlinkServiceDeps, type InterlinkTasks } from './interlink-service.js';
export { interlinkConfigSchema, type InterlinkConfig } from '../config/interlink-config.js';

export interface Interlink {
  readonly service: InterlinkService;
  readonly server: InterlinkServer;
  /** Stops serving; pods' containers keep running and are taken back at the next start. */
  stop(): Promise<void>;
}

/**
 * Takes back the pods stored under `<stateDir>/k8s/` (after the task core has
 * restored its tasks, so it knows theirs), then serves the interLink plugin
 * API on `interlink.socketPath` and `interlink.listen`.
 */
export const startInterlink = async (deps: InterlinkServiceDeps): Promise<Interlink> => {
  const service = new InterlinkService(deps);
  service.start();
  const server = new InterlinkServer(service, deps.config.interlink, deps.log);
  try {
    await server.start();
  } catch (err) {
    service.stop();
    await server.stop();
    throw err;
  }
  return {
    service,
    server,
    stop: async () => {
      await server.stop();
      service.stop();
    },
  };
};

/**
 * For the composition root: undefined when `interlink.enabled` is off, or when
 * it cannot listen (logged): a busy socket is an operator's problem to fix,
 * not a reason to stop serving the tasks already running.
 */
export const startInterlinkIfEnabled = async (deps: InterlinkServiceDeps): Promise<Interlink | undefined> => {
  if (!deps.config.interlink.enabled) return undefined;
  try {
    return await startInterlink(deps);
  } catch (err) {
    deps.log.error({ err: (err as Error).message }, 'interLink plugin API not started; Kubernetes cannot schedule pods here until it is fixed');
    return undefined;
  }
};
