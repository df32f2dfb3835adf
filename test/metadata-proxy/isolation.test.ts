/**
 * Two tasks (loopback 127.0.0.2 and 127.0.0.3 stand for their anti-spoofed
 * IPs) with different roles; STS and the host IMDS are loopback fakes whose
 * host credentials must never come out. Thousands of crafted requests —
 * every combination of caller, method, path trick and header trick — each
 * must answer the caller's own data or an error status.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { HOST_ROLE } from './fixtures/fake-imds.js';
import { mapLimit, type HttpAnswer } from './fixtures/http-client.js';
import { assertNoLeaks, HOST_STATIC_CREDENTIALS, startProxyHarness, TASK_A, TASK_B, type ProxyHarness } from './fixtures/proxy-harness.js';

type Task = typeof TASK_A | typeof TASK_B;
const roleName = (task: Task): string => task.roleArn.split('/').pop() ?? '';

/** Deterministic "random" garbage, so a failure can be replayed. */
const garbage = (seed: number, length: number): string => {
  let out = '';
  let block = Buffer.alloc(0);
  for (let i = 0; out.length < length; i++) {
    if (i % 32 === 0) block = createHash('sha256').update(`${seed}:${i}`).digest();
    const byte = block[i % 32] ?? 0;
    out += String.fromCharCode(33 + (byte % 94)); // printable, no spaces
  }
  return out;
};

const pathsFor = (own: Task, other: Task): string[] => {
  const o = roleName(other);
  const m = roleName(own);
  return [
    `/latest/meta-data/iam/security-credentials/${m}`,
    `/latest/meta-data/iam/security-credentials/${o}`,
    `/latest/meta-data/iam/security-credentials/${HOST_ROLE}`,
    '/latest/meta-data/iam/security-credentials/',
    '/latest/meta-data/iam/security-credentials',
    '/latest/meta-data/iam/info',
    '/latest/meta-data/iam/',
    '/latest/meta-data/',
    '/latest/meta-data/instance-id',
    '/latest/meta-data/local-ipv4',
    '/latest/dynamic/instance-identity/document',
    '/latest/dynamic/instance-identity/pkcs7',
    '/latest/user-data',
    '/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance',
    '/latest/meta-data/public-keys/0/openssh-key',
    '/nflx/v1/task-identity',
    '/nflx/v1/task-identity/public-key',
    `/1.0/meta-data/iam/security-credentials/${o}`,
    `/2021-01-03/meta-data/iam/security-credentials/${m}`,
    `//latest/meta-data/iam/security-credentials/${o}`,
    `/latest//meta-data/iam/security-credentials/${o}`,
    `/latest/meta-data/iam/security-credentials/${m}/../${o}`,
    `/latest/meta-data/iam/security-credentials/./${o}`,
    `/latest/meta-data/iam/security-credentials/%2e%2e/${o}`,
    `/latest/meta-data/iam/security-credentials%2f${o}`,
    `/latest/meta-data/iam/security-credentials/${o}%00`,
    `/latest/meta-data/iam/security-credentials/${o}?task=${own.taskId}`,
    `/latest/meta-data/iam/security-credentials/${m}#${o}`,
    `/latest/meta-data/iam/security-credentials/${o}/`,
    `/latest/meta-data/iam/security-credentials/${o.toUpperCase()}`,
    `/latest\\meta-data\\iam\\security-credentials\\${o}`,
    '/%6catest/meta-data/instance-id',
    '/latest/meta-data/../../latest/user-data',
    `http://169.254.169.254/latest/meta-data/iam/security-credentials/${o}`,
    '*',
    `/latest/meta-data/instance-id;${other.taskId}`,
    `/latest/meta-data/iam/security-credentials/${m}\u0000`,
    `/${'a'.repeat(5000)}`,
    `/latest/meta-data/${'x/'.repeat(300)}`,
    '/latest/%ZZ',
    `/${garbage(1, 40)}`,
    `/latest/${garbage(2, 200)}`,
    `/latest/meta-data/iam/security-credentials/${garbage(3, 64)}`,
    '/latest/api/token',
  ];
};

interface Tokens {
  readonly valid: string;
  readonly expired: string;
}

const headerSets = (own: Task, other: Task, tokens: Map<string, Tokens>): string[][] => {
  const mine = tokens.get(own.taskId);
  const theirs = tokens.get(other.taskId);
  if (mine === undefined || theirs === undefined) throw new Error('tokens missing');
  return [
    [],
    [`X-aws-ec2-metadata-token: ${mine.valid}`],
    [`X-aws-ec2-metadata-token: ${theirs.valid}`],
    [`X-aws-ec2-metadata-token: ${mine.expired}`],
    [`X-aws-ec2-metadata-token: ${garbage(4, 71)}`],
    [`X-Forwarded-For: ${other.address}`, `X-Real-IP: ${other.address}`, `Forwarded: for=${other.address}`, `True-Client-IP: ${other.address}`],
    [`X-Titus-Role: ${other.roleArn}`, `X-Titus-Task-Id: ${other.taskId}`],
    [`X-aws-ec2-metadata-token: ${mine.valid}`, `X-Forwarded-For: ${other.address}`],
    [`X-aws-ec2-metadata-token: ${theirs.valid}`, `X-aws-ec2-metadata-token: ${mine.valid}`],
  ];
};

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH'];

interface Crafted {
  readonly caller: Task;
  readonly other: Task;
  readonly text: string;
}

const craft = (tokens: Map<string, Tokens>): Crafted[] => {
  const out: Crafted[] = [];
  for (const [caller, other] of [[TASK_A, TASK_B], [TASK_B, TASK_A]] as const) {
    for (const method of METHODS) {
      for (const path of pathsFor(caller, other)) {
        headerSets(caller, other, tokens).forEach((headers, i) => {
          const host = i === 6 ? other.address : '169.254.169.254';
          const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, 'X-aws-ec2-metadata-token-ttl-seconds: 60', ...headers, 'Connection: close'];
          out.push({ caller, other, text: `${lines.join('\r\n')}\r\n\r\n` });
        });
      }
    }
  }
  return out;
};

/** Strings that, in an answer to `caller`, would mean another task's or the host's data leaked. */
const foreignMarkers = (h: ProxyHarness, caller: Task, other: Task, otherTokens: readonly string[]): string[] => [
  other.taskId,
  other.address,
  other.roleArn,
  roleName(other),
  HOST_ROLE,
  HOST_STATIC_CREDENTIALS.accessKeyId,
  HOST_STATIC_CREDENTIALS.secretAccessKey,
  ...h.imds.secrets(),
  ...h.sts.issued.filter((c) => c.roleArn !== caller.roleArn).flatMap((c) => [c.accessKeyId, c.secretAccessKey, c.sessionToken]),
  ...otherTokens,
];

t.test('no crafted request gets another task\'s or the host\'s data', async (t) => {
  const h = await startProxyHarness(t, { tasks: [TASK_A, TASK_B] });
  const tokens = new Map<string, Tokens>();
  for (const task of [TASK_A, TASK_B]) {
    const expired = await h.token(task.address, 1);
    tokens.set(task.taskId, { valid: await h.token(task.address), expired });
  }
  h.clock.advance(2_000);
  const requests = craft(tokens);
  t.ok(requests.length >= 1000, `${requests.length} crafted requests`);
  const answers: HttpAnswer[] = await mapLimit(requests, 32, (r) => h.raw(r.caller.address, r.text));

  const issuedTo = new Map<string, string[]>([[TASK_A.taskId, []], [TASK_B.taskId, []]]);
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let ownCredentials = 0;
  answers.forEach((a, i) => {
    const r = requests[i] as Crafted;
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    if (a.status !== 200) {
      if (a.status < 400 || a.status > 499) failures.push(`#${i} status ${a.status}: ${r.text.slice(0, 120)}`);
      return;
    }
    if (r.text.startsWith('PUT /latest/api/token ')) issuedTo.get(r.caller.taskId)?.push(a.body.toString());
    const leaked = foreignMarkers(h, r.caller, r.other, []).filter((m) => a.body.includes(m));
    if (leaked.length > 0) failures.push(`#${i} leaked ${leaked.join(', ')}: ${r.text.slice(0, 120)}`);
    if (a.body.includes('AccessKeyId')) {
      const doc = JSON.parse(a.body.toString()) as { AccessKeyId?: string };
      const own = h.sts.latestFor(`titus-${r.caller.taskId}`);
      if (doc.AccessKeyId !== own?.accessKeyId) failures.push(`#${i} credentials not the caller's own`);
      else ownCredentials++;
    }
  });
  t.same(failures.slice(0, 20), [], 'every answer is the caller\'s own data or a 4xx');
  t.ok(ownCredentials >= 20, `${ownCredentials} answers carried the caller's own credentials (the legit variants worked)`);
  t.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0);
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);

  // Tokens handed out during the barrage work only for the task that asked.
  for (const [caller, other] of [[TASK_A, TASK_B], [TASK_B, TASK_A]] as const) {
    const stolen = issuedTo.get(other.taskId) ?? [];
    t.ok(stolen.length > 0);
    const tries = await mapLimit(stolen, 16, (tok) => h.request(caller.address, 'GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': tok }));
    t.ok(tries.every((a) => a.status === 401), `${stolen.length} tokens of ${other.taskId} are refused for ${caller.taskId}`);
  }
  t.same([...new Set(h.sts.calls.map((c) => c.roleArn))].sort(), [TASK_A.roleArn, TASK_B.roleArn].sort(), 'STS was only asked for the two task roles');
  t.equal(h.sts.calls.length, 2, 'and only once each');
  assertNoLeaks(t, h);
});
