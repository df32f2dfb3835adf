import { arch } from 'node:os';
import { denied, imdsJson, imdsTime, notFound, status, text, type Answer } from './answers.js';
import type { CredentialAnswer, RoleCredentialCache } from './credential-cache.js';
import { PlacementUnavailableError, type HostPlacement, type PlacementKey } from './host-placement.js';
import { accountOf, roleNameOf } from './sts-assumer.js';
import type { TaskIdentityInfo } from './types.js';

export interface MetadataSources {
  readonly placement: HostPlacement;
  readonly credentials: RoleCredentialCache;
  readonly accountId: string | undefined;
}

type Node = { readonly leaf: () => Answer | Promise<Answer> } | { readonly dir: ReadonlyArray<readonly [string, Node]> };

/**
 * Names under a version prefix that exist on EC2 but expose the host (its
 * keys, its signed identity, its user data): answered 403 so a reader of a
 * failing client sees the proxy refused on purpose.
 */
const DENIED = new Set([
  'user-data',
  'meta-data/identity-credentials',
  'meta-data/public-keys',
  'meta-data/iam/policy',
  'dynamic/instance-identity/pkcs7',
  'dynamic/instance-identity/signature',
  'dynamic/instance-identity/rsa2048',
]);

/**
 * The IMDS tree a task sees under /latest/ (or /<date>/): an allow-list built
 * from what the executor knows about the task. A name not in it is 404; a
 * directory lists its children (sub-directories with a trailing `/`).
 */
export const resolveMetadata = async (task: TaskIdentityInfo, segments: readonly string[], src: MetadataSources): Promise<Answer> => {
  let node: Node = versionRoot(task, src);
  const walked: string[] = [];
  for (const segment of segments) {
    walked.push(segment);
    const child: Node | undefined = 'dir' in node ? node.dir.find(([name]) => name === segment)?.[1] : undefined;
    if (child === undefined) return DENIED.has(walked.join('/')) ? denied(`imds:${walked.join('/')}`) : notFound();
    node = child;
  }
  if ('leaf' in node) return node.leaf();
  return text(`imds:${walked.join('/')}/`, node.dir.map(([name, n]) => ('dir' in n && walked.length > 0 ? `${name}/` : name)).join('\n'));
};

const versionRoot = (task: TaskIdentityInfo, src: MetadataSources): Node => ({
  dir: [
    ['dynamic', { dir: [['instance-identity', { dir: [['document', { leaf: () => identityDocument(task, src) }]] }]] }],
    ['meta-data', { dir: metaData(task, src) }],
  ],
});

const value = (name: string, v: string): readonly [string, Node] => [name, { leaf: () => text(`imds:meta-data/${name}`, v) }];

const metaData = (task: TaskIdentityInfo, src: MetadataSources): Array<readonly [string, Node]> => {
  const entries: Array<readonly [string, Node]> = [];
  const hostname = task.hostname ?? task.ipv4Address;
  if (hostname !== undefined) entries.push(value('hostname', hostname));
  if (task.iamRoleArn !== undefined) entries.push(['iam', { dir: iam(task, task.iamRoleArn, src) }]);
  entries.push(value('instance-id', task.taskId));
  if (task.ipv6Address !== undefined) entries.push(value('ipv6', task.ipv6Address));
  if (hostname !== undefined) entries.push(value('local-hostname', hostname));
  if (task.ipv4Address !== undefined) entries.push(value('local-ipv4', task.ipv4Address));
  entries.push(value('mac', task.mac ?? '00:00:00:00:00:00'));
  entries.push([
    'placement',
    {
      dir: [
        ['availability-zone', { leaf: () => placementAnswer(task.availabilityZone, 'availability-zone', src) }],
        ['availability-zone-id', { leaf: () => placementAnswer(task.availabilityZoneId, 'availability-zone-id', src) }],
        ['region', { leaf: () => placementAnswer(task.region, 'region', src) }],
      ],
    },
  ]);
  return entries;
};

const placementAnswer = async (own: string | undefined, key: PlacementKey, src: MetadataSources): Promise<Answer> => {
  const route = `imds:meta-data/placement/${key}`;
  if (own !== undefined) return text(route, own);
  try {
    return text(route, await src.placement.get(key));
  } catch (err) {
    if (err instanceof PlacementUnavailableError) return status(503, route, 'Service Unavailable');
    throw err;
  }
};

const iam = (task: TaskIdentityInfo, roleArn: string, src: MetadataSources): Array<readonly [string, Node]> => {
  const roleName = roleNameOf(roleArn);
  return [
    ['info', { leaf: async () => iamInfo(roleArn, await src.credentials.credentialsFor(task.taskId, roleArn)) }],
    [
      'security-credentials',
      { dir: [[roleName, { leaf: async () => credentialsDocument(await src.credentials.credentialsFor(task.taskId, roleArn)) }]] },
    ],
  ];
};

const CREDENTIALS_ROUTE = 'imds:meta-data/iam/security-credentials/<role>';

/** Serialized once per credentials: the hot path of every SDK in every task. */
const serializedCredentials = new WeakMap<object, Answer>();

/** The JSON IMDS serves for a role; an error keeps IMDS' shape with Code other than Success. */
const credentialsDocument = (answer: CredentialAnswer): Answer => {
  if (answer.kind === 'pending') return status(503, CREDENTIALS_ROUTE, 'Service Unavailable: credentials are being obtained');
  if (answer.kind === 'error') return imdsJson(CREDENTIALS_ROUTE, credentialError(answer));
  const c = answer.credentials;
  const cached = serializedCredentials.get(c);
  if (cached !== undefined) return cached;
  const document = imdsJson(CREDENTIALS_ROUTE, {
    Code: 'Success',
    LastUpdated: imdsTime(answer.lastUpdatedMs),
    Type: 'AWS-HMAC',
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: imdsTime(c.expirationMs),
  });
  serializedCredentials.set(c, document);
  return document;
};

const iamInfo = (roleArn: string, answer: CredentialAnswer): Answer => {
  const route = 'imds:meta-data/iam/info';
  if (answer.kind === 'pending') return status(503, route, 'Service Unavailable: credentials are being obtained');
  if (answer.kind === 'error') return imdsJson(route, credentialError(answer));
  return imdsJson(route, {
    Code: 'Success',
    LastUpdated: imdsTime(answer.lastUpdatedMs),
    InstanceProfileArn: roleArn,
    InstanceProfileId: answer.credentials.assumedRoleId,
  });
};

const credentialError = (answer: Extract<CredentialAnswer, { kind: 'error' }>) => ({
  Code: answer.stsCode === 'AccessDenied' ? 'AssumeRoleUnauthorizedAccess' : 'AssumeRoleFailed',
  Message: answer.message,
  LastUpdated: imdsTime(answer.lastUpdatedMs),
});

const identityDocument = async (task: TaskIdentityInfo, src: MetadataSources): Promise<Answer> => {
  const route = 'imds:dynamic/instance-identity/document';
  let region: string;
  let availabilityZone: string;
  try {
    region = task.region ?? (await src.placement.get('region'));
    availabilityZone = task.availabilityZone ?? (await src.placement.get('availability-zone'));
  } catch (err) {
    if (err instanceof PlacementUnavailableError) return status(503, route, 'Service Unavailable');
    throw err;
  }
  return imdsJson(route, {
    accountId: (task.iamRoleArn === undefined ? undefined : accountOf(task.iamRoleArn)) ?? src.accountId ?? null,
    architecture: arch() === 'arm64' ? 'arm64' : 'x86_64',
    availabilityZone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    // Titus' placeholders: a task has no AMI or instance type of its own.
    imageId: 'ami-f00f',
    instanceId: task.taskId,
    instanceType: 'titus.large',
    kernelId: null,
    pendingTime: imdsTime(task.acceptedAtMs),
    privateIp: task.ipv4Address ?? null,
    ramdiskId: null,
    region,
    version: '2017-09-30',
  });
};
