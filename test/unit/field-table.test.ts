/**
 * docs/fields.md, machine-checked: every ContainerInfo field (walked from the
 * proto's descriptors), every reserved field number, every passthrough
 * attribute and every pod field (walked from the zod schemas and the refusal
 * tables) has a row; every refused row's value is sent through the core's
 * launch (TaskManager.launch, parseLaunchRequest) or the interLink HTTP door
 * and refused with INVALID_ARGUMENT / 400 naming the field; every honoured
 * row names a test file that exists. No engine: the core's runtime fails the
 * test if anything reaches it.
 */
import t from 'tap';
import protobuf from 'protobufjs';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { parseConfig } from '../../src/config/config.js';
import { isExecutorError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import { checkContainerInfo, parseLaunchRequest } from '../../src/task/launch-request.js';
import {
  CONTAINER_INFO_FIELD_NUMBERS,
  RECOGNISED_PASSTHROUGH_ATTRIBUTES,
  REFUSED_PASSTHROUGH_ATTRIBUTES,
  RESERVED_CONTAINER_INFO_FIELDS,
} from '../../src/task/unsupported-fields.js';
import {
  CONTAINER_FIELDS,
  CONTAINER_PORT_FIELDS,
  CONTAINER_RESOURCE_FIELDS,
  CONTAINER_SECURITY_CONTEXT_FIELDS,
  EMPTY_DIR_FIELDS,
  RESOURCE_NAMES,
  VOLUME_MOUNT_FIELDS,
  POD_SECURITY_CONTEXT_FIELDS,
  POD_SPEC_FIELDS,
  VOLUME_FIELDS,
  type FieldRule,
} from '../../src/k8s/pod-unsupported-fields.js';
import { containerSchema, podSchema, volumeSchema } from '../../src/k8s/pod-schema.js';
import { InterlinkServer, InterlinkService } from '../../src/k8s/index.js';
import type { ContainerRuntime } from '../../src/runtime/container-runtime.js';
import type { LaunchSpec } from '../../src/task/types.js';
import type { LaunchTaskRequest__Output } from '../../src/proto/generated/titus/executor/v1/LaunchTaskRequest.js';
import { call } from '../k8s/interlink-client.js';

const ROOT = new URL('../../', import.meta.url).pathname;

interface Row {
  readonly field: string;
  readonly status: string;
  readonly test: string;
  readonly refusedValue: string;
}

/** The tables of docs/fields.md by section title. */
const readTables = (): Map<string, Row[]> => {
  const tables = new Map<string, Row[]>();
  let section = '';
  for (const line of readFileSync(join(ROOT, 'docs/fields.md'), 'utf8').split('\n')) {
    if (line.startsWith('## ')) {
      section = line.slice(3).trim();
      continue;
    }
    if (!line.startsWith('| ') || line.startsWith('| field ') || line.startsWith('| ---')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length !== 5) throw new Error(`docs/fields.md: a row of "${section}" has ${cells.length} cells: ${line}`);
    const [field = '', status = '', , test = '', refusedValue = ''] = cells;
    tables.set(section, [...(tables.get(section) ?? []), { field, status, test, refusedValue }]);
  }
  return tables;
};

const tables = readTables();
const rowsOf = (section: string): Row[] => {
  const rows = tables.get(section);
  if (rows === undefined) throw new Error(`docs/fields.md has no section "${section}"`);
  return rows;
};
const namesOf = (section: string): string[] => rowsOf(section).map((r) => r.field);

/** A runtime that fails the test if the core reaches it at all. */
const untouchable = (calls: string[]): ContainerRuntime =>
  new Proxy({} as ContainerRuntime, {
    get: (_target, name) => () => {
      calls.push(String(name));
      throw new Error(`runtime.${String(name)} called`);
    },
  });

/** A JSON cell; "bytes:<base64>" is a bytes value. */
const cellValue = (cell: string): unknown => {
  const v: unknown = JSON.parse(cell);
  return typeof v === 'string' && v.startsWith('bytes:') ? Buffer.from(v.slice('bytes:'.length), 'base64') : v;
};

/** Sets `path` (dot-separated) in a copy of `base`. */
const withPath = (base: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> => {
  const [head, ...rest] = path;
  if (head === undefined) return base;
  const inner = (base[head] ?? {}) as Record<string, unknown>;
  return { ...base, [head]: rest.length === 0 ? value : withPath(inner, rest, value) };
};

// --- (a) every field has a row ------------------------------------------------------------

const agentProto = (): protobuf.Type => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(ROOT, 'proto', target);
  root.loadSync('netflix/titus/agent.proto', { keepCase: true });
  root.resolveAll();
  return root.lookupType('messages.ContainerInfo');
};

const protoFieldPaths = (type: protobuf.Type, prefix = ''): string[] =>
  type.fieldsArray.flatMap((f) => {
    const path = `${prefix}${f.name}`;
    const nested = f instanceof protobuf.MapField ? undefined : f.resolvedType;
    return nested instanceof protobuf.Type ? [path, ...protoFieldPaths(nested, `${path}.`)] : [path];
  });

t.test('every ContainerInfo field of agent.proto, nested ones included, has a row, and no row names a field it lacks', async (t) => {
  const type = agentProto();
  t.same([...namesOf('ContainerInfo')].sort(), protoFieldPaths(type).sort());
  t.same([...CONTAINER_INFO_FIELD_NUMBERS].sort((a, b) => a - b), type.fieldsArray.map((f) => f.id).sort((a, b) => a - b), 'the refusal of undefined field numbers knows the same fields');
  const reserved = (type.reserved ?? []).flatMap((r) => (Array.isArray(r) ? Array.from({ length: (r[1] ?? 0) - (r[0] ?? 0) + 1 }, (_, i) => (r[0] ?? 0) + i) : []));
  t.same(Object.keys(RESERVED_CONTAINER_INFO_FIELDS).map(Number).sort((a, b) => a - b), reserved.sort((a, b) => a - b), 'every reserved number has a name');
  t.same(namesOf('ContainerInfo reserved field numbers'), Object.entries(RESERVED_CONTAINER_INFO_FIELDS).map(([n, name]) => `${n} ${name}`));
});

t.test('every passthrough attribute the executor knows has a row, with the status the code gives it', async (t) => {
  const rows = rowsOf('Passthrough attributes').filter((r) => r.field !== '(any other key)');
  t.same(rows.map((r) => r.field).sort(), [...RECOGNISED_PASSTHROUGH_ATTRIBUTES, ...Object.keys(REFUSED_PASSTHROUGH_ATTRIBUTES)].sort());
  for (const r of rows) {
    t.equal(r.status === 'refused', r.field in REFUSED_PASSTHROUGH_ATTRIBUTES, `${r.field}: ${r.status}`);
  }
});

/** The keys of a (possibly optional/nullable) zod object. */
const shapeKeys = (schema: z.ZodType): string[] => {
  let s: unknown = schema;
  for (let i = 0; i < 5 && typeof s === 'object' && s !== null && !('shape' in s); i++) s = (s as { unwrap(): unknown }).unwrap();
  return Object.keys((s as { shape: Record<string, unknown> }).shape);
};

const POD_TABLES: ReadonlyArray<[string, Readonly<Record<string, FieldRule>>, string[]]> = [
  ['Pod spec', POD_SPEC_FIELDS, shapeKeys(podSchema.shape.spec)],
  ['Pod securityContext', POD_SECURITY_CONTEXT_FIELDS, []],
  ['Container', CONTAINER_FIELDS, shapeKeys(containerSchema)],
  ['Container ports', CONTAINER_PORT_FIELDS, []],
  ['Container securityContext', CONTAINER_SECURITY_CONTEXT_FIELDS, shapeKeys(containerSchema.shape.securityContext)],
  ['Volume', VOLUME_FIELDS, shapeKeys(volumeSchema)],
  ['emptyDir', EMPTY_DIR_FIELDS, shapeKeys(volumeSchema.shape.emptyDir)],
  ['Volume mounts', VOLUME_MOUNT_FIELDS, shapeKeys(containerSchema.shape.volumeMounts.unwrap().unwrap().element)],
  ['Container resources', CONTAINER_RESOURCE_FIELDS, shapeKeys(containerSchema.shape.resources)],
];

t.test('every pod field the schema reads or the plugin judges has a row, with the status the code gives it', async (t) => {
  for (const [section, rules, schemaKeys] of POD_TABLES) {
    const rows = rowsOf(section);
    t.same(rows.map((r) => r.field).sort(), Object.keys(rules).sort(), `${section}: the rows are the plugin's rules`);
    for (const key of schemaKeys) t.ok(key in rules, `${section}: ${key}, read by the pod schema, has a rule (and so a row)`);
    for (const r of rows) {
      const rule = rules[r.field];
      t.equal(r.status === 'refused', rule?.status === 'refused', `${section}: ${r.field} is ${r.status} in the doc and ${rule?.status ?? 'absent'} in the code`);
    }
  }
});

// --- (c) honoured rows name a test that exists ------------------------------------------

t.test('each honoured row names a test file that exists', async (t) => {
  for (const [section, rows] of tables) {
    for (const r of rows) {
      t.ok(['honoured', 'refused'].includes(r.status), `${section}: ${r.field}: status ${r.status}`);
      if (r.status === 'honoured') {
        t.ok(r.test.startsWith('test/') && existsSync(join(ROOT, r.test)), `${section}: ${r.field}: ${r.test} exists`);
      } else {
        t.not(r.refusedValue, '', `${section}: ${r.field}: a refused row gives a value to refuse`);
      }
      if (r.test !== '') t.ok(existsSync(join(ROOT, r.test)), `${section}: ${r.field}: ${r.test} exists`);
    }
  }
});

// --- (b) refused rows are refused, naming the field ---------------------------------------

const RESOURCES = { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 };

const launchThroughCore = (containerInfo: Record<string, unknown>): unknown => {
  const calls: string[] = [];
  const tasks = new TaskManager({ runtime: untouchable(calls), config: parseConfig({}), log: silentLogger() });
  try {
    tasks.launch({ taskId: 'field-table-1', containerInfo, resources: RESOURCES, labels: {} } as unknown as LaunchSpec);
  } catch (err) {
    if (calls.length > 0) throw new Error(`the runtime was reached: ${calls.join(', ')}`);
    return err;
  }
  return undefined;
};

const refusedNaming = (t: import('tap').Test, err: unknown, field: string, what: string): void => {
  t.ok(isExecutorError(err, 'INVALID_ARGUMENT'), `${what}: INVALID_ARGUMENT (${err instanceof Error ? err.message : 'accepted'})`);
  if (err instanceof Error) t.ok(err.message.startsWith(`${field}: `), `${what}: the message names ${field}: ${err.message}`);
};

const BASE_INFO = { imageName: 'busybox' };

t.test('the base ContainerInfo is accepted, so each refusal below is the field’s', async (t) => {
  t.doesNotThrow(() => checkContainerInfo(BASE_INFO));
  t.doesNotThrow(() => checkContainerInfo({ ...BASE_INFO, passthroughAttributes: { 'titusParameter.agent.hostnameStyle': '' } }), 'hostnameStyle "" is accepted');
  t.doesNotThrow(
    () => checkContainerInfo({ ...BASE_INFO, passthroughAttributes: { 'titus.agent.applicationStack': 'prod', 'com.example.team': 'x' } }),
    'keys outside the asking namespaces (titusParameter., titus.executor.) ask the host for nothing and are accepted',
  );
  t.throws(() => checkContainerInfo({ ...BASE_INFO, passthroughAttributes: { 'titus.executor.somethingNew': 'x' } }), 'an unknown titus.executor. key is refused');
  t.doesNotThrow(() => checkContainerInfo({ ...BASE_INFO, ignoreLaunchGuard: true, networkConfigInfo: { eniLabel: '1', eniLablel: '1' } }), 'the control plane’s ignoreLaunchGuard and ENI index are accepted');
});

t.test('refused ContainerInfo rows: TaskManager.launch answers INVALID_ARGUMENT naming the field', async (t) => {
  for (const r of rowsOf('ContainerInfo').filter((x) => x.refusedValue !== '')) {
    const err = launchThroughCore(withPath(BASE_INFO, r.field.split('.'), cellValue(r.refusedValue)));
    // Credentials are refused as one message: a field of metatronCreds is named by its message.
    refusedNaming(t, err, `containerInfo.${r.field.startsWith('metatronCreds.') ? 'metatronCreds' : r.field}`, r.field);
  }
});

t.test('refused passthrough attributes: TaskManager.launch answers INVALID_ARGUMENT naming the attribute', async (t) => {
  for (const r of rowsOf('Passthrough attributes').filter((x) => x.refusedValue !== '')) {
    const [key, value] = r.field === '(any other key)' ? [cellValue(r.refusedValue) as string, 'x'] : [r.field, cellValue(r.refusedValue) as string];
    const err = launchThroughCore({ ...BASE_INFO, passthroughAttributes: { [key]: value } });
    refusedNaming(t, err, `containerInfo.passthroughAttributes.${key}`, key);
  }
});

t.test('reserved and unknown field numbers in containerInfoBytes: parseLaunchRequest refuses them by name', async (t) => {
  const type = agentProto();
  const decode = (b: Uint8Array): unknown => type.toObject(type.decode(b), { longs: String, enums: String, bytes: Buffer });
  const bytesWith = (fieldNumber: number, value: number): Buffer => {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).string('busybox');
    w.uint32((fieldNumber << 3) | 0).uint32(value);
    return Buffer.from(w.finish());
  };
  const parse = (bytes: Buffer): unknown => {
    try {
      parseLaunchRequest({ taskId: 'field-table-2', container: 'containerInfoBytes', containerInfoBytes: bytes } as unknown as LaunchTaskRequest__Output, parseConfig({}).defaultResources, decode);
    } catch (err) {
      return err;
    }
    return undefined;
  };
  for (const r of rowsOf('ContainerInfo reserved field numbers')) {
    const [n = '', name = ''] = r.field.split(' ');
    const err = parse(bytesWith(Number(n), r.refusedValue === '' ? 1 : Number(cellValue(r.refusedValue))));
    if (r.status === 'refused') refusedNaming(t, err, `containerInfoBytes.${name}`, r.field);
    else t.equal(err, undefined, `${r.field}: accepted`);
  }
  refusedNaming(t, parse(bytesWith(99, 1)), 'containerInfoBytes.field99', 'an unknown field number');
  t.equal(parse(bytesWith(20, 0)), undefined, 'a defined field (numGpus) is accepted');
});

t.test('refused pod rows: the interLink door answers 400 naming the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-fields-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const calls: string[] = [];
  const config = parseConfig({ stateDir: join(dir, 'state') });
  const tasks = new TaskManager({ runtime: untouchable(calls), config, log: silentLogger() });
  const service = new InterlinkService({ tasks, config, log: silentLogger() });
  service.start();
  const socket = join(dir, 'il.sock');
  const server = new InterlinkServer(service, { socketPath: socket, listen: null }, silentLogger());
  await server.start();
  t.teardown(async () => {
    await server.stop();
    service.stop();
  });
  let n = 0;
  const create = async (edit: (spec: Record<string, unknown>, container: Record<string, unknown>) => void): Promise<{ status: number; text: string }> => {
    const container: Record<string, unknown> = { name: 'c', image: 'busybox' };
    const spec: Record<string, unknown> = { containers: [container] };
    edit(spec, container);
    n += 1;
    const uid = `0c3b7a52-3c0e-4f43-9d0e-6a1e2f1b${String(n).padStart(4, '0')}`;
    return call(socket, 'POST', '/create', { pod: { metadata: { name: `p${n}`, namespace: 'default', uid }, spec }, container: [] });
  };
  const where: Record<string, (spec: Record<string, unknown>, c: Record<string, unknown>, field: string, v: unknown) => string> = {
    'Pod spec': (spec, _c, f, v) => ((spec[f] = v), `pod.spec.${f}`),
    'Pod securityContext': (spec, _c, f, v) => ((spec['securityContext'] = { [f]: v }), `pod.spec.securityContext.${f}`),
    Container: (_spec, c, f, v) => ((c[f] = v), `pod.spec.containers.0.${f}`),
    'Container ports': (_spec, c, f, v) => ((c['ports'] = [{ containerPort: 80, [f]: v }]), `pod.spec.containers.0.ports.0.${f}`),
    'Container securityContext': (_spec, c, f, v) => ((c['securityContext'] = { [f]: v }), `pod.spec.containers.0.securityContext.${f}`),
    Volume: (spec, _c, f, v) => ((spec['volumes'] = [{ name: 'v', [f]: v }]), `pod.spec.volumes.0`),
    'Volume mounts': (spec, c, f, v) => {
      spec['volumes'] = [{ name: 'v', emptyDir: {} }];
      c['volumeMounts'] = [{ name: 'v', mountPath: '/v', [f]: v }];
      return `pod.spec.containers.0.volumeMounts.0.${f}`;
    },
    'Container resources': (_spec, c, f, v) => ((c['resources'] = { [f]: v }), `pod.spec.containers.0.resources.${f}`),
    emptyDir: (spec, _c, f, v) => ((spec['volumes'] = [{ name: 'v', emptyDir: { [f]: v } }]), `pod.spec.volumes.0.emptyDir.${f}`),
  };
  for (const [section] of POD_TABLES) {
    for (const r of rowsOf(section).filter((x) => x.refusedValue !== '')) {
      let field = '';
      const reply = await create((spec, c) => {
        field = where[section]?.(spec, c, r.field, cellValue(r.refusedValue)) ?? '';
      });
      t.equal(reply.status, 400, `${section}: ${r.field}: 400 (${reply.text})`);
      t.ok(reply.text.includes(`${field}: `), `${section}: ${r.field}: names ${field}: ${reply.text}`);
      if (section === 'Volume') t.ok(reply.text.includes(r.field), `${section}: names the kind ${r.field}`);
    }
  }
  const names = rowsOf('Resource names');
  t.same(names.map((r) => r.field).filter((f) => f !== '(any other resource)').sort(), Object.keys(RESOURCE_NAMES).sort(), 'the resource-name rows are the plugin’s');
  for (const r of names.filter((x) => x.refusedValue !== '')) {
    const name = cellValue(r.refusedValue) as string;
    for (const kind of ['limits', 'requests']) {
      const reply = await create((_spec, c) => (c['resources'] = { [kind]: { [name]: '1' } }));
      t.equal(reply.status, 400, `${kind}.${name}: 400`);
      t.ok(reply.text.includes(`pod.spec.containers.0.resources.${kind}.${name}: `), `${kind}.${name}: names it: ${reply.text}`);
    }
  }
  const unknown = await create((spec) => (spec['someFutureField'] = { enabled: true }));
  t.equal(unknown.status, 400, 'a pod spec field no row names is refused');
  t.match(unknown.text, /pod\.spec\.someFutureField: /);
  t.same(calls, [], 'nothing reached the runtime');
  t.same(service.podUids(), [], 'no pod was kept');
});
