import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { LaunchTaskRequest } from '../proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import type { LaunchTaskResponse__Output } from '../proto/generated/titus/executor/v1/LaunchTaskResponse.js';
import type { ContainerInfo } from '../proto/generated/messages/ContainerInfo.js';
import { imageFields } from '../task/image-fields.js';
import { call, createClient } from './client.js';
import { TERMINAL, followTask } from './follow.js';
import { indent, shortState } from './format.js';
import type { GlobalOptions } from './options.js';

interface LaunchOptions extends GlobalOptions {
  taskId?: string;
  image?: string;
  entrypoint?: string[];
  env: string[];
  cpu?: string;
  memory?: string;
  disk?: string;
  network?: string;
  gpus?: string;
  killWait?: string;
  containerInfo?: string;
  pod?: string;
  format: 'auto' | 'json' | 'bytes' | 'base64';
  wait?: boolean;
  progress: boolean;
}

const parseEnv = (pairs: readonly string[]): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`--env ${p}: expected NAME=VALUE`);
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
};

const num = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} ${v}: expected a non-negative number`);
  return n;
};

/** A ContainerInfo file: JSON (the proto JSON mapping), raw serialized bytes, or base64 of them. */
export const readContainerInfoFile = (file: string, format: LaunchOptions['format']): Pick<LaunchTaskRequest, 'containerInfo' | 'containerInfoBytes'> => {
  const raw = readFileSync(file);
  const text = raw.toString('utf8').trim();
  if (format === 'json' || (format === 'auto' && text.startsWith('{'))) {
    return { containerInfo: JSON.parse(text) as ContainerInfo };
  }
  if (format === 'base64' || (format === 'auto' && /^[A-Za-z0-9+/=\s]+$/.test(text) && text.length % 4 === 0)) {
    return { containerInfoBytes: Buffer.from(text, 'base64') };
  }
  return { containerInfoBytes: raw };
};

/** `--pod FILE`: a Titus v1.Pod as JSON, sent as it is; its metadata.name is the task id. */
const podRequest = (file: string, opts: LaunchOptions, command: string[]): LaunchTaskRequest => {
  const clashing = (['image', 'containerInfo', 'cpu', 'memory', 'disk', 'network', 'gpus', 'killWait'] as const).filter((k) => opts[k] !== undefined);
  if (clashing.length > 0 || command.length > 0 || opts.env.length > 0) {
    throw new Error(`--pod carries the whole task; drop ${clashing.length > 0 ? `--${clashing[0]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : command.length > 0 ? 'the command' : '--env'}`);
  }
  const bytes = readFileSync(file);
  let name: unknown;
  try {
    name = (JSON.parse(bytes.toString('utf8')) as { metadata?: { name?: unknown } }).metadata?.name;
  } catch (err) {
    throw new Error(`--pod ${file}: not JSON (${(err as Error).message})`);
  }
  if (typeof name !== 'string' || name === '') throw new Error(`--pod ${file}: metadata.name (the task id) is missing`);
  if (opts.taskId !== undefined && opts.taskId !== name) throw new Error(`--task-id ${opts.taskId} differs from the pod's metadata.name ${name}`);
  return { taskId: name, pod: bytes };
};

const buildRequest = (opts: LaunchOptions, command: string[]): LaunchTaskRequest => {
  if (opts.pod !== undefined) return podRequest(opts.pod, opts, command);
  let container: Pick<LaunchTaskRequest, 'containerInfo' | 'containerInfoBytes'>;
  if (opts.containerInfo !== undefined) {
    container = readContainerInfoFile(opts.containerInfo, opts.format);
  } else {
    if (opts.image === undefined) throw new Error('--image (or --container-info) is required');
    const info: ContainerInfo = {
      ...imageFields(opts.image),
      userProvidedEnv: parseEnv(opts.env),
      process: {
        ...(opts.entrypoint !== undefined ? { entrypoint: opts.entrypoint } : {}),
        ...(command.length > 0 ? { command } : {}),
      },
    };
    const killWait = num(opts.killWait, '--kill-wait');
    if (killWait !== undefined) info.killWaitSeconds = killWait;
    container = { containerInfo: info };
  }
  return {
    taskId: opts.taskId ?? `task-${randomUUID()}`,
    ...container,
    resources: {
      cpu: num(opts.cpu, '--cpu') ?? 0,
      memoryMb: num(opts.memory, '--memory') ?? 0,
      diskMb: num(opts.disk, '--disk') ?? 0,
      networkMbps: num(opts.network, '--network') ?? 0,
      gpus: num(opts.gpus, '--gpus') ?? 0,
    },
  };
};

export const registerLaunch = (program: Command, globals: () => GlobalOptions): void => {
  program
    .command('launch')
    .description('launch a task and print its state changes; with --wait, until it ends')
    .argument('[command...]', 'the command (Docker CMD); put it after --')
    .option('--task-id <id>', 'task id (default: a generated one)')
    .option('--image <ref>', 'image: repo[:tag] or repo@sha256:…')
    .option('--entrypoint <arg>', 'entrypoint word (repeat for each word; "" clears the image entrypoint)', (v: string, acc: string[] = []) => [...acc, v])
    .option('-e, --env <NAME=VALUE>', 'environment variable (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--cpu <n>', 'CPUs')
    .option('--memory <MiB>', 'memory in MiB')
    .option('--disk <MiB>', 'disk in MiB')
    .option('--network <Mbps>', 'network bandwidth in Mbps')
    .option('--gpus <n>', 'GPUs')
    .option('--kill-wait <s>', 'grace period between SIGTERM and SIGKILL')
    .option('--container-info <file>', 'a ContainerInfo: JSON, raw serialized bytes, or base64')
    .option('--format <f>', 'format of --container-info: auto|json|bytes|base64', 'auto')
    .option('--pod <file>', "a Titus v1.Pod (JSON, as Titus' pod.json): the task id, image, process and resources all come from it")
    .option('--wait', 'wait for the task to end; exit non-zero unless it FINISHED')
    .option('--no-progress', 'no progress bar while pulling')
    .action(async (command: string[], local: Omit<LaunchOptions, keyof GlobalOptions>) => {
      const opts: LaunchOptions = { ...globals(), ...local };
      const req = buildRequest(opts, command);
      const taskId = req.taskId ?? '';
      const client = createClient(opts);
      const json = opts.output === 'json';
      const follower = followTask(client, taskId, {
        json,
        progress: opts.progress,
        until: (s) => TERMINAL.has(s) || (opts.wait !== true && s === 'RUNNING'),
      });
      await follower.ready;
      let res: LaunchTaskResponse__Output;
      try {
        res = await call(client.LaunchTask.bind(client), req);
      } catch (err) {
        follower.cancel();
        throw err;
      }
      if (!json && res.task !== undefined && res.task !== null) console.error(`launched ${taskId}`);
      const last = await follower.done;
      if (opts.wait === true && !json) {
        const task = await call(client.GetTask.bind(client), { taskId });
        if (task.outputTail) console.log(`output of ${taskId}:\n${indent(task.outputTail)}`);
      }
      client.close();
      if (opts.wait === true && shortState(last?.state) !== 'FINISHED') process.exitCode = 1;
    });
};
