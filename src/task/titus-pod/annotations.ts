import { parseQuantity } from '../quantity.js';
import { annotationField, refuse } from './pod-fields.js';

/**
 * Titus' pod annotations (titus-kube-common's `pod` package, as the Titus
 * control plane wrote them and titus-executor read them), each honoured by
 * setting the ContainerInfo field the executor already acts on, accepted as
 * information the scheduler used, or refused naming the annotation.
 */

/** What the annotations contribute to the launch. */
export interface AnnotationResult {
  /** ContainerInfo fields (proto JSON shape). */
  readonly info: Record<string, unknown>;
  readonly passthrough: Record<string, string>;
  /** ContainerInfo path prefix → the annotation it came from. */
  readonly origins: Array<[string, string]>;
  /** Mbps from the bandwidth annotations, with the annotation each came from. */
  readonly bandwidth: Array<{ mbps: number; origin: string }>;
  /** `pod.titus.netflix.com/system-env-var-names`: names of the pod env that are Titus', not the user's. */
  systemEnvNames?: Set<string>;
  shellSplitting: boolean;
  schemaVersion: number;
  /** The main container's name: per-container annotations apply only to it. */
  readonly mainContainer: string;
  containerInfoBase64?: { key: string; value: string };
}

type Handler = (value: string, key: string, r: AnnotationResult) => void;

/** Go's strconv.ParseBool, which Titus used. */
const parseBool = (key: string, value: string): boolean => {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw refuse(annotationField(key), `${JSON.stringify(value)} is not a boolean (true or false)`);
};

const csv = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

const setInfo =
  (field: string, convert: (value: string, key: string) => unknown = (v) => v): Handler =>
  (value, key, r) => {
    r.info[field] = convert(value, key);
    r.origins.push([`containerInfo.${field}`, annotationField(key)]);
  };

const setPassthrough =
  (attribute: string): Handler =>
  (value, key, r) => {
    r.passthrough[attribute] = value;
    r.origins.push([`containerInfo.passthroughAttributes.${attribute}`, annotationField(key)]);
  };

const bool = (key: string, value: string): boolean => parseBool(key, value);

/** Feature switches the executor does not have: "false" is accepted, "true" refused. */
const onlyFalse =
  (why: string): Handler =>
  (value, key) => {
    if (parseBool(key, value)) throw refuse(annotationField(key), `true is not supported (${why})`);
  };

const refused =
  (why: string): Handler =>
  (_value, key) => {
    throw refuse(annotationField(key), `is not supported by this executor (${why})`);
  };

/** Accepted without acting on it: scheduler and control-plane bookkeeping, or a value the executor writes itself. */
const informational: Handler = () => undefined;

const bandwidth: Handler = (value, key, r) => {
  const field = annotationField(key);
  const bits = parseQuantity(value, field);
  const mbps = Math.ceil(bits / 1e6);
  if (mbps < 1) throw refuse(field, `${JSON.stringify(value)} is below 1 Mbps (the value is in bits per second, e.g. 128M)`);
  r.bandwidth.push({ mbps, origin: field });
};

const ANNOTATIONS: Readonly<Record<string, Handler>> = {
  'pod.netflix.com/pod-schema-version': (value, key, r) => {
    if (!/^\d{1,9}$/.test(value)) throw refuse(annotationField(key), `${JSON.stringify(value)} is not a schema version number`);
    const v = Number(value);
    if (v > 1) throw refuse(annotationField(key), `schema version ${v} is not supported (0: containerInfo annotation, 1: pod annotations)`);
    r.schemaVersion = v;
  },
  containerInfo: (value, key, r) => (r.containerInfoBase64 = { key, value }),
  'pod.titus.netflix.com/container-info': (value, key, r) => (r.containerInfoBase64 = { key, value }),

  // Workload identity: NETFLIX_APP/STACK/DETAIL/CLUSTER and the container's labels.
  'workload.netflix.com/name': setInfo('appName'),
  'workload.netflix.com/stack': setInfo('jobGroupStack'),
  'workload.netflix.com/detail': setInfo('jobGroupDetail'),
  'workload.netflix.com/sequence': setInfo('jobGroupSequence'),
  'workload.netflix.com/owner-email': setPassthrough('titus.agent.ownerEmail'),
  'v3.job.titus.netflix.com/id': setInfo('jobId'),
  'v3.job.titus.netflix.com/type': (value, key, r) => {
    if (value !== 'BATCH' && value !== 'SERVICE') throw refuse(annotationField(key), `${JSON.stringify(value)} is not BATCH or SERVICE`);
    setPassthrough('titus.agent.jobType')(value, key, r);
  },
  'v3.job.titus.netflix.com/accepted-timestamp-ms': setInfo('jobAcceptedTimestampMs', (v, key) => {
    if (!/^\d{1,15}$/.test(v)) throw refuse(annotationField(key), `${JSON.stringify(v)} is not a time in milliseconds`);
    return v;
  }),
  'v3.job.titus.netflix.com/descriptor': informational,
  'v3.job.titus.netflix.com/application': informational,

  // Identity and the metadata proxy.
  'iam.amazonaws.com/role': setInfo('iamProfile'),
  'network.netflix.com/imds-require-token': setPassthrough('titusParameter.agent.imds.requireToken'),

  // Networking.
  'network.netflix.com/security-groups': (value, key, r) => {
    const groups = csv(value);
    if (groups.length === 0) throw refuse(annotationField(key), 'names no security group');
    r.info['networkConfigInfo'] = { ...(r.info['networkConfigInfo'] as object | undefined), securityGroups: groups };
    r.origins.push(['containerInfo.networkConfigInfo.securityGroups', annotationField(key)]);
  },
  'network.titus.netflix.com/securityGroups': (value, key, r) => ANNOTATIONS['network.netflix.com/security-groups']?.(value, key, r),
  'kubernetes.io/ingress-bandwidth': bandwidth,
  'kubernetes.io/egress-bandwidth': bandwidth,
  'network.netflix.com/network-bursting-enabled': setInfo('allowNetworkBursting', (v, key) => bool(key, v)),
  'network.netflix.com/assign-ipv6-address': (value, key, r) => setPassthrough('titusParameter.agent.assignIPv6Address')(String(parseBool(key, value)), key, r),
  'network.netflix.com/network-mode': (value, key) => {
    if (value !== '' && value !== 'Ipv4Only' && value !== 'Ipv6AndIpv4') {
      throw refuse(annotationField(key), `${JSON.stringify(value)} is not supported (Ipv4Only, or Ipv6AndIpv4 with assign-ipv6-address)`);
    }
  },
  'network.netflix.com/jumbo-frames-enabled': onlyFalse('the network driver sets no jumbo MTU routes'),
  'network.netflix.com/subnet-ids': refused('the network driver picks the subnet'),
  'network.titus.netflix.com/subnets': refused('the network driver picks the subnet'),
  'network.netflix.com/account-id': refused('the network driver uses its own account'),
  'network.titus.netflix.com/accountId': refused('the network driver uses its own account'),
  'network.netflix.com/elastic-ip-pool': refused('elastic IPs are not assigned'),
  'network.netflix.com/elastic-ips': refused('elastic IPs are not assigned'),
  'network.netflix.com/static-ip-allocation-uuid': refused('static IP allocations are not supported'),

  // Container behaviour.
  'pod.netflix.com/cpu-bursting-enabled': setInfo('allowCpuBursting', (v, key) => bool(key, v)),
  'pod.netflix.com/oom-score-adj': setInfo('oomScoreAdj', (v, key) => {
    if (!/^-?\d{1,4}$/.test(v) || Math.abs(Number(v)) > 1000) throw refuse(annotationField(key), `${JSON.stringify(v)} is not an oom_score_adj (-1000 to 1000)`);
    return Number(v);
  }),
  'pod.netflix.com/sched-policy': (value, key, r) => {
    if (value !== 'batch' && value !== 'idle') throw refuse(annotationField(key), `${JSON.stringify(value)} is not a scheduler policy (batch or idle)`);
    setInfo('batch', () => true)(value, key, r);
    if (value === 'idle') setPassthrough('titusParameter.agent.batchPriority')('idle', key, r);
  },
  'pod.netflix.com/hostname-style': (value, key) => {
    if (value === 'ec2') throw refuse(annotationField(key), 'ec2 is not supported (the hostname is the task id)');
    if (value !== '') throw refuse(annotationField(key), `${JSON.stringify(value)} is not a valid hostname style`);
  },
  // FUSE and KVM: the passthrough attributes Titus' V0 tasks used (src/task/task-security.ts).
  'pod.netflix.com/fuse-enabled': (value, key, r) => setPassthrough('titusParameter.agent.fuseEnabled')(String(parseBool(key, value)), key, r),
  'pod.netflix.com/kvm-enabled': (value, key, r) => setPassthrough('titusParameter.agent.kvmEnabled')(String(parseBool(key, value)), key, r),
  'pod.netflix.com/seccomp-agent-net-enabled': onlyFalse('there is no seccomp agent'),
  'pod.netflix.com/seccomp-agent-perf-enabled': onlyFalse('there is no seccomp agent'),
  'pod.netflix.com/traffic-steering-enabled': onlyFalse('there is no traffic-steering sidecar'),
  'pod.titus.netflix.com/system-env-var-names': (value, _key, r) => (r.systemEnvNames = new Set(csv(value))),
  'pod.titus.netflix.com/injected-env-var-names': informational,
  'pod.titus.netflix.com/entrypoint-shell-splitting-enabled': (value, key, r) => (r.shellSplitting = parseBool(key, value)),

  // Logs: kept on the host and served by GetLogs; nothing is uploaded.
  'log.netflix.com/keep-local-file-after-upload': informational,
  'log.netflix.com/s3-bucket-name': refused('logs are not uploaded; GetLogs serves them'),
  'log.netflix.com/s3-path-prefix': refused('logs are not uploaded; GetLogs serves them'),
  'log.netflix.com/s3-writer-iam-role': refused('logs are not uploaded; GetLogs serves them'),
  'log.netflix.com/upload-regexp': refused('logs are not uploaded; GetLogs serves them'),
  'log.netflix.com/stdio-check-interval': refused('logs are not uploaded; GetLogs serves them'),
  'log.netflix.com/upload-threshold-time': refused('logs are not uploaded; GetLogs serves them'),
  'log.netflix.com/upload-check-interval': refused('logs are not uploaded; GetLogs serves them'),
  'security.netflix.com/workload-metadata': refused('there is no Metatron sidecar'),
  'security.netflix.com/workload-metadata-sig': refused('there is no Metatron sidecar'),

  // The scheduler's and the control plane's, read before the pod came here.
  'pod.titus.netflix.com/priority-class-intent': informational,
  'pod.titus.netflix.com/scheduled-in-trough': informational,
  'resubmit-number.pod.netflix.com/preemption': informational,
  'failure-domain.beta.kubernetes.io/zone': informational,
};

/** Families of keys, matched by prefix or suffix after the exact keys. */
const FAMILIES: ReadonlyArray<{ readonly match: (key: string) => boolean; readonly handler: Handler }> = [
  // Scheduling and placement, and the executor's own output annotations (a re-fed state.json).
  { match: (k) => /^(node|opportunistic\.scheduler|scheduler|predictions\.scheduler|runtime\.predictions)\.titus\.netflix\.com\//.test(k), handler: informational },
  { match: (k) => k.startsWith('preemption.netflix.com/'), handler: informational },
  { match: (k) => /^network\.netflix\.com\/(address-|prefixlen-|branch-eni-|trunk-eni-|vlan-id$|allocation-idx$|effective-network-mode$)/.test(k), handler: informational },
  { match: (k) => k === 'runtime.titus.netflix.com/versions', handler: informational },
  // Per-container annotations: only the main container's image tag (the image field has the digest).
  {
    match: (k) => k.includes('.containers.netflix.com/'),
    handler: (value, key, r) => {
      if (key.endsWith('.containers.netflix.com/image-tag')) return;
      if (key === `${r.mainContainer}.containers.netflix.com/capabilities`) return containerCapabilities(value, key, r);
      if (key.endsWith('.containers.netflix.com/capabilities') && value.split(',').every((c) => c.trim() === 'Default' || c.trim() === '')) return;
      throw refuse(annotationField(key), 'is not supported by this executor (one container, no platform sidecars)');
    },
  },
  { match: (k) => k.startsWith('service.netflix.com/') || k.endsWith('.platform-sidecars.netflix.com'), handler: refused('there are no platform sidecars') },
  { match: (k) => k.startsWith('container.apparmor.security.beta.kubernetes.io/'), handler: (value, key, r) => appArmorAnnotation(value, key, r) },
  { match: (k) => k.startsWith('mockPod.netflix.com/'), handler: refused('mock pods are a control-plane test feature') },
];

/**
 * Titus' container capabilities (`Default`, `FUSE`, `ImageBuilding`), at most
 * one besides Default as in Titus, as the passthrough attributes the
 * executor's security plan reads.
 */
const containerCapabilities = (value: string, key: string, r: AnnotationResult): void => {
  const asked = csv(value).filter((c) => c !== 'Default');
  if (asked.length > 1) throw refuse(annotationField(key), `${JSON.stringify(value)} names more than one container capability`);
  const capability = asked[0];
  if (capability === undefined) return;
  const attribute = { FUSE: 'titusParameter.agent.fuseEnabled', ImageBuilding: 'titusParameter.agent.imageBuildingEnabled' }[capability];
  if (attribute === undefined) throw refuse(annotationField(key), `${JSON.stringify(capability)} is not a container capability (Default, FUSE, ImageBuilding)`);
  setPassthrough(attribute)('true', key, r);
};

/** Kubernetes' AppArmor annotation for the main container: `runtime/default`, `localhost/<profile>` or `unconfined`. */
const appArmorAnnotation = (value: string, key: string, r: AnnotationResult): void => {
  if (key !== `container.apparmor.security.beta.kubernetes.io/${r.mainContainer}`) {
    throw refuse(annotationField(key), `names no container of this pod (the main container is ${JSON.stringify(r.mainContainer)})`);
  }
  if (value === 'runtime/default') return;
  const profile = value === 'unconfined' ? 'unconfined' : value.startsWith('localhost/') ? value.slice('localhost/'.length) : undefined;
  if (profile === undefined || profile === '') throw refuse(annotationField(key), `${JSON.stringify(value)} is not runtime/default, localhost/<profile> or unconfined`);
  setPassthrough('titusParameter.agent.apparmorProfile')(profile, key, r);
};

/** Reads every annotation; throws naming the first one that is refused or malformed. */
export const readAnnotations = (annotations: Readonly<Record<string, string>>, mainContainer = ''): AnnotationResult => {
  const r: AnnotationResult = { info: {}, passthrough: {}, origins: [], bandwidth: [], shellSplitting: false, schemaVersion: 0, mainContainer };
  // The version first: what the rest means depends on it.
  const ordered = Object.keys(annotations).sort((a, b) => Number(b === 'pod.netflix.com/pod-schema-version') - Number(a === 'pod.netflix.com/pod-schema-version'));
  for (const key of ordered) {
    const value = annotations[key] ?? '';
    const handler = ANNOTATIONS[key] ?? FAMILIES.find((f) => f.match(key))?.handler;
    if (handler === undefined) {
      throw refuse(annotationField(key), 'is not an annotation this executor knows; it refuses the pod rather than ignore what it asks for');
    }
    handler(value, key, r);
  }
  return r;
};
