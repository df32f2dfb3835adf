import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { z } from 'zod';
import { NvidiaSmiParseError } from './nvidia-smi-parse-error.js';

/** `nvidia-smi -q -x`: the full report as XML (NVIDIA's nvsmi_device DTD). */
export const FULL_REPORT_ARGS: readonly string[] = Object.freeze(['-q', '-x']);

/** One `<gpu>` of the report, the fields we use. */
export interface NvidiaSmiReportGpu {
  readonly pciBusId: string;
  readonly name: string;
  readonly uuid: string;
  /** N in /dev/nvidiaN; absent where the driver reports N/A. */
  readonly minorNumber?: number;
  readonly memoryMiB: number;
}

export interface NvidiaSmiReport {
  readonly driverVersion: string;
  readonly cudaVersion?: string;
  readonly attachedGpus: number;
  readonly gpus: readonly NvidiaSmiReportGpu[];
}

// Values stay strings (parseTagValue off): "13.0" must not become 13, and a
// version such as "580.159.04" is not a number at all.
const reportParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // One <gpu> and several must give the same shape: always an array.
  isArray: (_tagName, jPath) => String(jPath) === 'nvidia_smi_log.gpu',
});

const memoryField = z.string().regex(/^\d+ MiB$/, 'expected "<n> MiB"');

const gpuSchema = z.object({
  '@_id': z.string(),
  product_name: z.string().min(1),
  uuid: z.string().regex(/^GPU-[0-9a-fA-F-]+$/, 'expected a GPU-… UUID'),
  minor_number: z.string(),
  fb_memory_usage: z.object({ total: memoryField }),
});

const reportSchema = z.object({
  nvidia_smi_log: z.object({
    driver_version: z.string().min(1),
    cuda_version: z.string().optional(),
    attached_gpus: z.string().regex(/^\d+$/, 'expected a count'),
    gpu: z.array(gpuSchema).optional(),
  }),
});

const toReportGpu = (gpu: z.infer<typeof gpuSchema>): NvidiaSmiReportGpu => {
  const minor = /^\d+$/.test(gpu.minor_number) ? Number(gpu.minor_number) : undefined;
  return {
    pciBusId: gpu['@_id'],
    name: gpu.product_name,
    uuid: gpu.uuid,
    memoryMiB: Number.parseInt(gpu.fb_memory_usage.total, 10),
    ...(minor === undefined ? {} : { minorNumber: minor }),
  };
};

const describeIssues = (error: z.ZodError): string =>
  error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');

/** Parses `nvidia-smi -q -x` output; rejects what is not a well-formed, complete report. */
export const parseNvidiaSmiXml = (xml: string): NvidiaSmiReport => {
  const wellFormed = XMLValidator.validate(xml);
  if (wellFormed !== true) {
    const { msg, line } = wellFormed.err;
    throw new NvidiaSmiParseError(`nvidia-smi XML is not well-formed (line ${line}): ${msg}`);
  }
  const parsed = reportSchema.safeParse(reportParser.parse(xml));
  if (!parsed.success) throw new NvidiaSmiParseError(`nvidia-smi XML report: ${describeIssues(parsed.error)}`);
  const log = parsed.data.nvidia_smi_log;
  const gpus = (log.gpu ?? []).map(toReportGpu);
  const attachedGpus = Number(log.attached_gpus);
  if (gpus.length !== attachedGpus) {
    throw new NvidiaSmiParseError(`nvidia-smi XML says ${attachedGpus} GPUs are attached but lists ${gpus.length}`);
  }
  const cudaVersion = log.cuda_version;
  return {
    driverVersion: log.driver_version,
    ...(cudaVersion === undefined || cudaVersion === '' ? {} : { cudaVersion }),
    attachedGpus,
    gpus,
  };
};
