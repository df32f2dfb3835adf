import { Command, Option } from 'commander';
import type * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../common/package-root.js';
import type { Task__Output } from '../proto/generated/titus/executor/v1/Task.js';
import { call, createClient, targetFor } from './client.js';
import { TERMINAL, followTask } from './follow.js';
import { formatRow, formatTask, formatUpdate, toProtoJson } from './format.js';
import { registerLaunch } from './launch.js';
import { registerLogs } from './logs.js';
import type { GlobalOptions } from './options.js';
import { registerServe } from './serve.js';
import { registerRunTask } from './run-task.js';
import { registerDrain } from './drain.js';
import { registerHost } from './host.js';

const version = (): string => {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string; gitCommit?: string };
  return `${pkg.version}${pkg.gitCommit !== undefined ? ` (${pkg.gitCommit})` : ''}`;
};

const program = new Command('titus-executor')
  .description('Per-host container task executor, wire-compatible with Titus ContainerInfo')
  .version(version(), '-v, --version')
  .option('--socket <path>', 'executor socket or host:port (env TITUS_EXECUTOR_SOCKET); for serve, the socket to listen on')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
  .option('--tls-ca <file>', 'CA for a TCP listener with mTLS')
  .option('--tls-cert <file>', 'client certificate for mTLS')
  .option('--tls-key <file>', 'client key for mTLS');

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

const printTask = (t: Task__Output): void => {
  console.log(globals().output === 'json' ? JSON.stringify(toProtoJson(t), null, 2) : formatTask(t));
};

registerServe(program, globals);
registerLaunch(program, globals);
registerLogs(program, globals);
registerRunTask(program);
registerDrain(program, globals);
registerHost(program, globals);

program
  .command('kill')
  .description('kill a task (SIGTERM, then SIGKILL after its grace period)')
  .argument('<taskId>')
  .option('--reason <text>', 'why, echoed in the final message', '')
  .option('--kill-wait <s>', 'override the grace period in seconds')
  .option('--wait', 'wait for the terminal state')
  .action(async (taskId: string, opts: { reason: string; killWait?: string; wait?: boolean }) => {
    const client = createClient(globals());
    const json = globals().output === 'json';
    const follower = opts.wait === true ? followTask(client, taskId, { json, progress: false, until: (s) => TERMINAL.has(s) }) : undefined;
    await follower?.ready;
    const res = await call(client.KillTask.bind(client), {
      taskId,
      reason: opts.reason,
      ...(opts.killWait !== undefined ? { killWaitSeconds: Number(opts.killWait) } : {}),
    });
    if (follower !== undefined) await follower.done;
    else if (res.task) printTask(res.task);
    client.close();
  });

program
  .command('get')
  .description('show a task with its history')
  .argument('<taskId>')
  .action(async (taskId: string) => {
    const client = createClient(globals());
    printTask(await call(client.GetTask.bind(client), { taskId }));
    client.close();
  });

program
  .command('ps')
  .description('list tasks on this host')
  .option('-a, --all', 'include tasks that have ended')
  .action(async (opts: { all?: boolean }) => {
    const client = createClient(globals());
    const res = await call(client.ListTasks.bind(client), { includeTerminal: opts.all === true });
    if (globals().output === 'json') console.log(JSON.stringify(toProtoJson(res), null, 2));
    else {
      console.log(`${'TASK'.padEnd(40)} ${'STATE'.padEnd(14)} ${'ACCEPTED'.padEnd(25)} IMAGE`);
      for (const t of res.tasks) console.log(formatRow(t));
    }
    client.close();
  });

program
  .command('watch')
  .description('stream status updates (all tasks, or the ones named)')
  .argument('[taskIds...]')
  .option('--after <sequence>', 'resume after this sequence number', '0')
  .option('--no-snapshot', 'skip the current state of each task')
  .action((taskIds: string[], opts: { after: string; snapshot: boolean }) => {
    const client = createClient(globals());
    const json = globals().output === 'json';
    const stream = client.WatchTaskStatus({ taskIds, sendSnapshot: opts.snapshot, afterSequence: opts.after });
    stream.on('data', (e) => {
      if (json) console.log(JSON.stringify(toProtoJson(e)));
      else if (e.update) console.log(formatUpdate(e.update));
      else if (e.snapshotEnd) console.log(`-- snapshot end (sequence ${e.snapshotEnd.sequence ?? '0'}) --`);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      console.error(`watch: ${err.details || err.message}`);
      process.exitCode = 1;
    });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as Partial<grpc.ServiceError> & Error;
  let msg = e.details !== undefined && e.details !== '' ? e.details : e.message;
  if (e.code === 14 && /No connection established/.test(msg)) {
    const cause = /Last error: (?:Error: )?(.*?)\.?\s*(?:Resolution note|$)/.exec(msg)?.[1] ?? msg;
    msg = `cannot reach the executor at ${targetFor(globals().socket)} (${cause}); is \`titus-executor serve\` running? (--socket or TITUS_EXECUTOR_SOCKET)`;
  }
  console.error(`titus-executor: ${msg}`);
  process.exitCode = typeof e.code === 'number' && e.code > 0 ? 2 : 1;
});
