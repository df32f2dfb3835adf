import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ExecutorError } from '../common/errors.js';
import { hostConfigSchema } from '../host/host-config.js';
import { metadataProxyConfigSchema } from '../metadata-proxy/config.js';
import { logUploadConfigSchema } from '../logs/upload/config.js';
import { interlinkConfigSchema } from './interlink-config.js';
import { securityConfigSchema } from './security-config.js';
import { executorNetworkConfigSchema } from '../vpc/config.js';
import { registryAuthConfigSchema } from '../runtime/registry-auth/config.js';
import { volumesConfigSchema } from '../volumes/config.js';

const resourcesSchema = z.object({
  cpu: z.number().positive().default(1),
  memoryMb: z.number().int().positive().default(512),
  diskMb: z.number().int().positive().default(10_240),
  networkMbps: z.number().int().nonnegative().default(128),
  gpus: z.number().int().nonnegative().default(0),
});

const tlsSchema = z.object({
  certFile: z.string().min(1), // server certificate chain (PEM)
  keyFile: z.string().min(1), // server private key (PEM)
  caFile: z.string().min(1), // CA that client certificates must chain to (mTLS)
});

export const configSchema = z
  .object({
    /** Identifies this executor in container labels; recovery only touches its own containers. */
    executorId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/).default(hostname().split('.')[0] || 'titus-executor'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    api: z
      .object({
        socketPath: z.string().min(1).default('/run/titus-executor/executor.sock'),
        socketMode: z.number().int().min(0).max(0o777).default(0o660),
        /** Group that may use the socket (created by the .deb); unset keeps root's group. */
        socketGroup: z.string().optional(),
        /** Optional TCP listener, e.g. "127.0.0.1:7104"; with tls it requires client certificates. */
        tcpAddress: z.string().optional(),
        tls: tlsSchema.optional(),
      })
      .prefault({}),
    docker: z
      .object({
        host: z.string().default(process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock'),
        /** Prefix for ContainerInfo.imageName when fullyQualifiedImage is empty; empty means Docker's default. */
        registry: z.string().default(''),
        pullAttempts: z.number().int().min(1).max(10).default(5),
        pullBackoffMs: z.number().int().nonnegative().default(1000),
        /** OCI runtime for tasks without GPUs; unset uses the engine's default (runc). */
        defaultRuntime: z.string().optional(),
        /** Registry credentials for pulls: an auths file, credential helpers, ECR (README "Registry credentials"). */
        auth: registryAuthConfigSchema.prefault({}),
        /**
         * Container creates and starts sent to the engine at once (the rest queue in the executor, first come
         * first served); 0: no limit. Off by default: on 2 cores 16 brought a burst's median forward but not its
         * p99, and made "all 50 RUNNING" later (bench, see the i15b note).
         */
        engineConcurrency: z.number().int().nonnegative().default(0),
      })
      .prefault({}),
    container: z
      .object({
        pidsLimit: z.number().int().positive().default(100_000),
        cfsPeriodUs: z.number().int().min(1000).max(1_000_000).default(100_000),
        runTmpfsMb: z.number().int().positive().default(128),
        /** RLIMIT_NOFILE for tasks; unset inherits the engine's (it cannot exceed dockerd's own hard limit). */
        nofile: z.number().int().positive().optional(),
        /** oom_score_adj when the task does not set one: tasks die before host daemons. */
        defaultOomScoreAdj: z.number().int().min(-1000).max(1000).default(1000),
        defaultKillWaitSeconds: z.number().int().positive().default(10),
        maxKillWaitSeconds: z.number().int().positive().default(300),
        hardCodedEnv: z.record(z.string(), z.string()).default({
          EC2_DOMAIN: 'amazonaws.com',
          AWS_METADATA_SERVICE_TIMEOUT: '5',
          AWS_METADATA_SERVICE_NUM_ATTEMPTS: '3',
        }),
      })
      .prefault({}),
    defaultResources: resourcesSchema.prefault({}),
    /** What this host offers tasks: detected, overridden or reduced here (src/host/host-config.ts). */
    host: hostConfigSchema.prefault({}),
    gpu: z
      .object({
        /** OCI runtime registered with dockerd for GPU tasks (see README: oci-add-hooks or nvidia). */
        nvidiaOciRuntime: z.string().default('oci-add-hooks'),
        driverCapabilities: z.string().default('all'),
        nvidiaSmiPath: z.string().default('nvidia-smi'),
        /** A host is a GPU host only when this device node exists. */
        deviceNodePath: z.string().default('/dev/nvidia0'),
        inventoryTimeoutMs: z.number().int().positive().default(5000),
        /** Lock files shared with `titus-executor run-task`, so two processes never share a GPU. */
        lockDir: z.string().default('/run/titus-executor/gpu-locks'),
        /** The hook config oci-add-hooks reads; written at start when the host has GPUs. */
        hookConfigPath: z.string().default('/etc/titus-executor/oci-hooks.json'),
        hookPath: z.string().default('/usr/bin/nvidia-container-runtime-hook'),
        writeHookConfig: z.boolean().default(true),
      })
      .prefault({}),
    /**
     * Warm pool of network sandboxes (docs/sandbox-pool.md): started pause containers a task joins instead
     * of waiting for a namespace of its own. 0 turns it off (today's path exactly). Used only where the
     * hostname hook's runtime (gpu.nvidiaOciRuntime) is registered with the engine.
     */
    sandboxPool: z
      .object({
        /** Idle sandboxes kept ready; default two per CPU, at most 16. */
        size: z.number().int().min(0).max(256).default(Math.min(16, 2 * availableParallelism())),
        /** Sandboxes made at once while refilling (kept low: refill competes with launches for the engine). */
        refillConcurrency: z.number().int().min(1).max(8).default(1),
        /** After a failed refill, wait this long before the next try. */
        refillBackoffMs: z.number().int().positive().default(2000),
        /** The OCI hook that gives a pooled task its hostname; unset: the one shipped in hooks/task-hostname. */
        hostnameHookPath: z.string().min(1).optional(),
      })
      .prefault({}),
    /** Task networking (docs/networking.md); `driver: none` (the default): a namespace with only lo, from the OCI runtime. */
    network: executorNetworkConfigSchema.prefault({}),
    /** The per-host instance metadata proxy for tasks (docs/metadata-proxy.md); needs network.driver local. */
    metadataProxy: metadataProxyConfigSchema.prefault({}),
    metrics: z
      .object({
        /** host:port serving Prometheus' GET /metrics; loopback by default; null turns it off. */
        listen: z.string().nullable().default('127.0.0.1:9273'),
      })
      .prefault({}),
    /** The interLink plugin API (Kubernetes through interLink); off by default, never off-host. */
    interlink: interlinkConfigSchema.prefault({}),
    /** Seccomp/AppArmor profiles, FUSE/KVM/tun devices and no-new-privileges for tasks (docs/security-profiles.md). */
    security: securityConfigSchema.prefault({}),
    /** EFS and NFS volumes for tasks (ContainerInfo.efsConfigInfo, pods' nfs volumes): docs/volumes.md. */
    volumes: volumesConfigSchema.prefault({}),
    /** Durable state: task records (tasks/), task logs (logs/), the drain flag. Must survive reboots. */
    stateDir: z.string().min(1).default('/var/lib/titus-executor'),
    /** Each task's stdout and stderr, kept under <logs.dir>/<taskId>/ for GetLogs and `titus-executor logs`. */
    logs: z
      .object({
        /** Where task logs are kept; unset: <stateDir>/logs. Their own filesystem keeps a task's output away from the task records. */
        dir: z.string().min(1).optional(),
        /**
         * MiB kept free on the logs' filesystem: below it a task's output stops being stored (a marker line says so)
         * until there is room again, so output can never take the space task records need. Half of it is what
         * launches need free in the state directory.
         */
        reserveMb: z.number().nonnegative().default(64),
        /** Bytes per log file before it is rotated; a single line longer than that is cut. */
        maxFileBytes: z.number().int().min(4096).default(10 * 1024 * 1024),
        /** Files kept per task, the one being written included: at most maxFiles x maxFileBytes per task. */
        maxFiles: z.number().int().min(1).max(100).default(5),
        /** How long a task's logs are kept after it ended. */
        retentionSeconds: z.number().int().nonnegative().default(86_400),
        /** How often logs past retention are looked for (also at start and at stop). */
        sweepIntervalSeconds: z.number().int().positive().default(300),
        /** How long the end of a task waits for the rest of its output to be stored before its container is removed. */
        finishTimeoutMs: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    /** Task logs to S3 during and after each task, as Titus did (docs/log-upload.md); off by default. */
    logUpload: logUploadConfigSchema.prefault({}),
    /** Where `titus-executor run-task` processes publish their tasks, so the daemon lists them. */
    runTaskDir: z.string().default('/run/titus-executor/run-task'),
    tasks: z
      .object({
        /** A task not RUNNING this long after it was accepted fails with stuckInState; 0 turns it off. */
        maxStartingSeconds: z.number().int().nonnegative().default(1200),
        /** Ended tasks kept (records on disk included) for Get/List/Watch; the oldest go first. */
        retainEnded: z.number().int().positive().default(1000),
      })
      .prefault({}),
    watch: z
      .object({
        /** Updates kept for WatchTaskStatus resumption. */
        retainedUpdates: z.number().int().positive().default(100_000),
        keepAliveSeconds: z.number().int().positive().default(15),
      })
      .prefault({}),
  })
  .strict();

export type ExecutorConfig = z.infer<typeof configSchema>;
export type DefaultResources = z.infer<typeof resourcesSchema>;

/** Validates a config object; every problem is reported with its path. */
export const parseConfig = (raw: unknown): ExecutorConfig => {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ExecutorError('INVALID_ARGUMENT', `invalid configuration: ${problems}`);
  }
  return result.data;
};

/** Reads a YAML config file; a missing default file means all defaults. */
export const loadConfig = (file: string | undefined, overrides: Record<string, unknown> = {}): ExecutorConfig => {
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ExecutorError('INVALID_ARGUMENT', `cannot read config file ${file}: ${(err as Error).message}`);
    }
    raw = parseYaml(text) ?? {};
  }
  return parseConfig(deepMerge(raw, overrides));
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const deepMerge = (base: unknown, over: Record<string, unknown>): unknown => {
  if (!isPlainObject(base)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out;
};
