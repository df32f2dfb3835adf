import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../common/log.js';
import { SystemdNotifier } from '../common/sd-notify.js';
import { startExecutor } from '../executor.js';

interface ServeOptions {
  config?: string;
  dockerHost?: string;
  tcp?: string;
  logLevel?: string;
  stateDir?: string;
}

export const DEFAULT_CONFIG = '/etc/titus-executor/config.yaml';

/** The global --socket names the socket to listen on for `serve`. */
export const registerServe = (program: Command, globals: () => { socket?: string }): void => {
  program
    .command('serve')
    .description('run the executor daemon (gRPC on a unix socket, optionally TCP)')
    .option('--config <file>', `YAML config file (default ${DEFAULT_CONFIG} when it exists)`)
    .option('--docker-host <url>', 'Docker engine, e.g. unix:///var/run/docker.sock')
    .option('--tcp <address>', 'also listen on TCP, e.g. 127.0.0.1:7104')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace')
    .option('--state-dir <dir>', 'task records, logs and the drain flag (default /var/lib/titus-executor)')
    .action(async (opts: ServeOptions) => {
      const { existsSync } = await import('node:fs');
      const file = opts.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
      const config = loadConfig(file, {
        ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
        ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
        api: { socketPath: globals().socket?.replace(/^unix:\/\//, ''), tcpAddress: opts.tcp },
        docker: { host: opts.dockerHost },
      });
      const log = createLogger(config.logLevel);
      const executor = await startExecutor(config, log);
      log.info({ addresses: executor.server.addresses, pid: process.pid }, 'titus-executor ready');
      const shutdown = (signal: string): void => {
        log.info({ signal }, 'shutting down; task containers keep running');
        void executor.stop().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      // titus-executor.service is Type=notify: it is active once the socket accepts calls.
      await new SystemdNotifier(log).notify({ ready: true, status: `serving on ${executor.server.addresses.join(', ')}` });
    });
};
