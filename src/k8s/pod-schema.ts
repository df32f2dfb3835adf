import { z } from 'zod';

/**
 * The parts of Kubernetes' v1 objects and of interLink's request bodies that
 * this plugin reads, validated at the edge. Objects are loose (unknown fields
 * are kept, so a pod is persisted as it came) and every optional field accepts
 * null, because Go marshals nil slices and maps as null.
 */
const opt = <T extends z.ZodType>(schema: T) => schema.nullish();

/** RFC 1123 labels: container, volume and namespace names; safe in paths and task ids. */
export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/**
 * Pod UIDs are UUIDs; up to 59 letters, digits and dashes are accepted, so that
 * they name files safely and `k8s-<uid>.<container>` stays a valid task id.
 */
export const POD_UID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,58}$/;

const dnsLabel = z.string().regex(DNS_LABEL_RE, 'must be a DNS label (lower-case letters, digits and -, at most 63)');
const stringMap = z.record(z.string(), z.string());
const quantityMap = z.record(z.string(), z.union([z.string(), z.number()]));

const keySelector = z.looseObject({ name: opt(z.string()), key: z.string(), optional: opt(z.boolean()) });
const envVar = z.looseObject({
  name: z.string().min(1),
  value: opt(z.string()),
  valueFrom: opt(
    z.looseObject({
      configMapKeyRef: opt(keySelector),
      secretKeyRef: opt(keySelector),
      fieldRef: opt(z.looseObject({ fieldPath: z.string() })),
      resourceFieldRef: opt(
        z.looseObject({ containerName: opt(z.string()), resource: z.string(), divisor: opt(z.union([z.string(), z.number()])) }),
      ),
    }),
  ),
});
const envFromSource = z.looseObject({
  prefix: opt(z.string()),
  configMapRef: opt(z.looseObject({ name: z.string(), optional: opt(z.boolean()) })),
  secretRef: opt(z.looseObject({ name: z.string(), optional: opt(z.boolean()) })),
});

const volumeMount = z.looseObject({
  name: dnsLabel,
  mountPath: z.string().startsWith('/', 'must be an absolute path'),
  subPath: opt(z.string()),
  readOnly: opt(z.boolean()),
});

export const containerSchema = z.looseObject({
  name: dnsLabel,
  image: z.string().min(1, 'is required'),
  command: opt(z.array(z.string())),
  args: opt(z.array(z.string())),
  workingDir: opt(z.string()),
  env: opt(z.array(envVar)),
  envFrom: opt(z.array(envFromSource)),
  resources: opt(z.looseObject({ limits: opt(quantityMap), requests: opt(quantityMap) })),
  volumeMounts: opt(z.array(volumeMount)),
  securityContext: opt(
    z.looseObject({
      capabilities: opt(z.looseObject({ add: opt(z.array(z.string())), drop: opt(z.array(z.string())) })),
    }),
  ),
});
export type K8sContainer = z.infer<typeof containerSchema>;

const keyToPath = z.looseObject({ key: z.string(), path: z.string(), mode: opt(z.number().int()) });
export const volumeSchema = z.looseObject({
  name: dnsLabel,
  emptyDir: opt(z.looseObject({ medium: opt(z.string()), sizeLimit: opt(z.union([z.string(), z.number()])) })),
  configMap: opt(
    z.looseObject({ name: z.string(), items: opt(z.array(keyToPath)), defaultMode: opt(z.number().int()), optional: opt(z.boolean()) }),
  ),
  secret: opt(
    z.looseObject({ secretName: z.string(), items: opt(z.array(keyToPath)), defaultMode: opt(z.number().int()), optional: opt(z.boolean()) }),
  ),
  projected: opt(z.looseObject({ defaultMode: opt(z.number().int()) })),
  downwardAPI: opt(z.looseObject({ defaultMode: opt(z.number().int()) })),
  /** Mounted by the executor as an NFSv4.1 volume (as ContainerInfo.efsConfigInfo), not written to disk. */
  nfs: opt(z.looseObject({ server: z.string().min(1, 'is required'), path: z.string().startsWith('/', 'must be an absolute path'), readOnly: opt(z.boolean()) })),
});
export type K8sVolume = z.infer<typeof volumeSchema>;

export const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().min(1, 'is required'),
    namespace: opt(z.string()),
    uid: z.string().regex(POD_UID_RE, 'must be the pod UID (letters, digits and -)'),
    labels: opt(stringMap),
    annotations: opt(stringMap),
    deletionGracePeriodSeconds: opt(z.number().int().nonnegative()),
  }),
  spec: z.looseObject({
    containers: z.array(containerSchema).min(1, 'a pod needs at least one container'),
    initContainers: opt(z.array(containerSchema)),
    volumes: opt(z.array(volumeSchema)),
    terminationGracePeriodSeconds: opt(z.number().int().nonnegative()),
    activeDeadlineSeconds: opt(z.number().int().positive('must be a positive number of seconds')),
    restartPolicy: opt(z.string()),
    hostname: opt(z.string()),
    nodeName: opt(z.string()),
    serviceAccountName: opt(z.string()),
    imagePullSecrets: opt(z.array(z.looseObject({ name: z.string().min(1, 'is required') }))),
  }),
  status: opt(z.looseObject({ phase: opt(z.string()), podIP: opt(z.string()), hostIP: opt(z.string()) })),
});
export type K8sPod = z.infer<typeof podSchema>;

const objectName = z.looseObject({ name: z.string() });
export const configMapSchema = z.looseObject({
  metadata: objectName,
  data: opt(stringMap),
  /** base64 */
  binaryData: opt(stringMap),
});
export type K8sConfigMap = z.infer<typeof configMapSchema>;

export const secretSchema = z.looseObject({
  metadata: objectName,
  /** base64, as Go marshals []byte */
  data: opt(stringMap),
  stringData: opt(stringMap),
  type: opt(z.string()),
});
export type K8sSecret = z.infer<typeof secretSchema>;

/** interLink's RetrievedContainer: the data one container's volumes need. */
const retrievedContainer = z.looseObject({
  name: z.string(),
  configMaps: opt(z.array(configMapSchema)),
  projectedvolumemaps: opt(z.array(configMapSchema)),
  secrets: opt(z.array(secretSchema)),
  emptyDirs: opt(z.array(z.string())),
});

/** interLink's RetrievedPodData: the body of POST /create. */
export const createRequestSchema = z.looseObject({
  pod: podSchema,
  container: opt(z.array(retrievedContainer)),
  jobScript: opt(z.string()),
});
export type CreateRequest = z.infer<typeof createRequestSchema>;

/** A pod as /delete and /status receive it: only its identity is needed. */
export const podRefSchema = z.looseObject({
  metadata: z.looseObject({
    name: opt(z.string()),
    namespace: opt(z.string()),
    uid: z.string().min(1, 'is required'),
    deletionGracePeriodSeconds: opt(z.number().int().nonnegative()),
    annotations: opt(stringMap),
  }),
  spec: opt(
    z.looseObject({
      terminationGracePeriodSeconds: opt(z.number().int().nonnegative()),
      containers: opt(z.array(z.looseObject({ name: z.string(), image: opt(z.string()) }))),
      initContainers: opt(z.array(z.looseObject({ name: z.string(), image: opt(z.string()) }))),
    }),
  ),
});
export type K8sPodRef = z.infer<typeof podRefSchema>;

/** GET /status: a list of pods; `[]` (or null) is interLink's ping. */
export const statusBodySchema = z.array(podRefSchema).nullable();

/** interLink's LogStruct. */
export const logsRequestSchema = z.looseObject({
  Namespace: opt(z.string()),
  PodUID: z.string().min(1, 'is required'),
  PodName: opt(z.string()),
  ContainerName: z.string().min(1, 'is required'),
  Opts: opt(
    z.looseObject({
      Tail: opt(z.number().int().nonnegative()),
      Bytes: opt(z.number().int().nonnegative()),
      Timestamps: opt(z.boolean()),
      Follow: opt(z.boolean()),
      Previous: opt(z.boolean()),
      SinceSeconds: opt(z.number().int().nonnegative()),
      /** RFC 3339; Go sends its zero time, 0001-01-01T00:00:00Z, when unset. */
      SinceTime: opt(z.string()),
    }),
  ),
});
export type LogsRequest = z.infer<typeof logsRequestSchema>;
