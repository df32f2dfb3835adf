import type { Command } from 'commander';
import * as grpc from '@grpc/grpc-js';
import type { GetLogsResponse__Output } from '../proto/generated/titus/executor/v1/GetLogsResponse.js';
import { createClient } from './client.js';
import { isoTime, toProtoJson } from './format.js';
import type { GlobalOptions } from './options.js';
import { parseSince } from './since.js';

interface LogsOptions {
  follow?: boolean;
  tail?: string;
  since?: string;
  timestamps?: boolean;
}

/**
 * `titus-executor logs TASK`: the task's stdout lines on stdout and its
 * stderr lines on stderr, as `docker logs` does; with -o json, every line as a
 * LogLine in the proto's JSON mapping on stdout.
 */
export const registerLogs = (program: Command, globals: () => GlobalOptions): void => {
  program
    .command('logs')
    .description("print a task's stdout and stderr, kept on the host while it runs and for logs.retentionSeconds after")
    .argument('<taskId>')
    .option('-f, --follow', 'keep printing new lines until the task has ended')
    .option('--tail <lines>', 'only the last N lines')
    .option('--since <time>', 'only lines since an RFC 3339 time, or a duration ago (10m, 1h30m)')
    .option('-t, --timestamps', 'start each line with its time')
    .action(async (taskId: string, opts: LogsOptions) => {
      if (opts.tail !== undefined && !/^\d+$/.test(opts.tail)) throw new Error(`--tail ${opts.tail}: must be a whole number`);
      const since = opts.since !== undefined ? parseSince(opts.since) : undefined;
      const json = globals().output === 'json';
      const client = createClient(globals());
      const stream = client.GetLogs({
        taskId,
        tailLines: opts.tail !== undefined ? Number(opts.tail) : 0,
        follow: opts.follow === true,
        ...(since !== undefined ? { since } : {}),
      });
      // Ctrl-C ends the stream politely, so the server stops reading at once.
      const cancel = (): void => stream.cancel();
      process.once('SIGINT', cancel);
      try {
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (res: GetLogsResponse__Output) => {
            for (const line of res.lines) {
              if (json) {
                process.stdout.write(`${JSON.stringify(toProtoJson(line))}\n`);
                continue;
              }
              const text = `${opts.timestamps === true ? `${isoTime(line.timestamp)} ` : ''}${line.text ?? ''}\n`;
              (line.stream === 'LOG_STREAM_STDERR' ? process.stderr : process.stdout).write(text);
            }
          });
          stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.CANCELLED ? resolve() : reject(err)));
          stream.on('end', () => resolve());
        });
      } finally {
        process.off('SIGINT', cancel);
        client.close();
      }
    });
};
