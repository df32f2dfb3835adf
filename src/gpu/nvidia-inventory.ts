import { access } from 'node:fs/promises';
import { CommandError, runCommand, type CommandResult } from '../common/command-runner.js';
import type { GpuInventory } from './gpu-device.js';
import { GpuInventoryError } from './gpu-inventory-error.js';
import { findExecutable } from './executable-lookup.js';
import { GPU_QUERY_ARGS, parseGpuQueryCsv } from './nvidia-smi-csv.js';
import { FULL_REPORT_ARGS, parseNvidiaSmiXml, type NvidiaSmiReport } from './nvidia-smi-xml.js';
import { NvidiaSmiParseError } from './nvidia-smi-parse-error.js';

export interface GpuInventoryOptions {
  /** A path, or a name looked up on PATH. Default `nvidia-smi`. */
  readonly nvidiaSmiPath?: string;
  /** A host is a GPU host iff this node exists. Default `/dev/nvidia0`. */
  readonly deviceNodePath?: string;
  /** Per nvidia-smi call. Default 5000 ms; a wedged driver makes nvidia-smi hang. */
  readonly timeoutMs?: number;
  /** Also run `nvidia-smi -q -x` for the driver and CUDA versions. Default true. */
  readonly queryDriverVersion?: boolean;
  /** Environment for nvidia-smi (and its PATH lookup). Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export const DEFAULT_NVIDIA_SMI = 'nvidia-smi';
export const DEFAULT_GPU_DEVICE_NODE = '/dev/nvidia0';
export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 5_000;

/** nvidia-smi's exit status when the driver is up but sees no GPU. */
const EXIT_NO_DEVICES = 6;
const OUTPUT_EXCERPT_CHARS = 2_000;

const exists = async (path: string): Promise<boolean> => {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
};

const excerpt = (label: string, text: string): string | undefined => {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const cut = trimmed.length > OUTPUT_EXCERPT_CHARS ? `${trimmed.slice(0, OUTPUT_EXCERPT_CHARS)}…` : trimmed;
  return `${label}: ${cut}`;
};

// nvidia-smi writes its own error messages to stdout, so both streams go in.
const describeOutput = (stdout: string, stderr: string): string =>
  [excerpt('stderr', stderr), excerpt('stdout', stdout)].filter((part) => part !== undefined).join('; ') ||
  'no output';

/** Runs nvidia-smi, turning every way it can fail into a GpuInventoryError. */
const runNvidiaSmi = async (argv: readonly string[], options: GpuInventoryOptions): Promise<CommandResult> => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS;
  const command = argv.join(' ');
  try {
    return await runCommand(argv, { timeoutMs, allowFailure: true, env: options.env });
  } catch (err) {
    if (err instanceof CommandError && err.reason === 'timeout') {
      const message = `${command} did not finish within ${timeoutMs} ms (is the NVIDIA driver hung?); ${describeOutput('', err.stderr)}`;
      throw new GpuInventoryError('timeout', message, { argv, stderr: err.stderr, cause: err });
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new GpuInventoryError('spawn', `could not run ${command}: ${reason}`, { argv, cause: err });
  }
};

const failedRun = (argv: readonly string[], result: CommandResult): GpuInventoryError =>
  new GpuInventoryError(
    'exit',
    `${argv.join(' ')} exited with code ${result.code}: ${describeOutput(result.stdout, result.stderr)}`,
    { argv, exitCode: result.code, stdout: result.stdout, stderr: result.stderr },
  );

const parseOrThrow = <T>(argv: readonly string[], result: CommandResult, parse: (stdout: string) => T): T => {
  try {
    return parse(result.stdout);
  } catch (err) {
    if (!(err instanceof NvidiaSmiParseError)) throw err;
    throw new GpuInventoryError('malformed', `unexpected output from ${argv.join(' ')}: ${err.message}`, {
      argv,
      stdout: result.stdout,
      stderr: result.stderr,
      cause: err,
    });
  }
};

const noGpus = (reason: string): GpuInventory => ({ gpus: [], reason });

const readDriverReport = async (nvidiaSmi: string, options: GpuInventoryOptions): Promise<NvidiaSmiReport> => {
  const argv = [nvidiaSmi, ...FULL_REPORT_ARGS];
  const result = await runNvidiaSmi(argv, options);
  if (result.code !== 0) throw failedRun(argv, result);
  return parseOrThrow(argv, result, parseNvidiaSmiXml);
};

/**
 * What GPUs this host has, from nvidia-smi. A host without the device node or
 * without nvidia-smi has none (with a `reason`); a broken or hung nvidia-smi
 * is a GpuInventoryError (FAILED_PRECONDITION) whose message carries its output.
 */
export const readGpuInventory = async (options: GpuInventoryOptions = {}): Promise<GpuInventory> => {
  const deviceNode = options.deviceNodePath ?? DEFAULT_GPU_DEVICE_NODE;
  if (!(await exists(deviceNode))) return noGpus(`${deviceNode} does not exist: not a GPU host`);

  const program = options.nvidiaSmiPath ?? DEFAULT_NVIDIA_SMI;
  const nvidiaSmi = await findExecutable(program, (options.env ?? process.env)['PATH']);
  if (nvidiaSmi === undefined) {
    return noGpus(`${deviceNode} exists but ${program} was not found or is not executable; no GPUs will be offered`);
  }

  const argv = [nvidiaSmi, ...GPU_QUERY_ARGS];
  const result = await runNvidiaSmi(argv, options);
  if (result.code === EXIT_NO_DEVICES) {
    return noGpus(`${nvidiaSmi} found no GPUs: ${describeOutput(result.stdout, result.stderr)}`);
  }
  if (result.code !== 0) throw failedRun(argv, result);
  const gpus = parseOrThrow(argv, result, parseGpuQueryCsv);
  if (gpus.length === 0) return noGpus(`${nvidiaSmi} listed no GPUs`);
  if (options.queryDriverVersion === false) return { gpus };

  const report = await readDriverReport(nvidiaSmi, options);
  return {
    gpus,
    driverVersion: report.driverVersion,
    ...(report.cudaVersion === undefined ? {} : { cudaVersion: report.cudaVersion }),
  };
};
