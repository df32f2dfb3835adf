/**
 * The shipped /etc/titus-executor/config.yaml (debian/config.yaml) stays in
 * sync with the zod schema in src/config/config.ts: it parses, every setting
 * of the schema is in it (active, or commented out as `#name: example` and
 * valid once uncommented), each has a comment, and the active values are the
 * schema's defaults except where the package means to differ.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, parseConfig } from '../../src/config/config.js';

const SHIPPED = fileURLToPath(new URL('../../debian/config.yaml', import.meta.url));
const text = readFileSync(SHIPPED, 'utf8');

/** `#name: value` (no space after #) is a commented-out setting; `# words` is prose. */
const COMMENTED_SETTING = /^(\s*)#([A-Za-z_][\w]*:.*)$/;
const SETTING = /^(\s*)#?([A-Za-z_][\w]*):/;
const PROSE = /^\s*# /;

/** Where the package deliberately differs from the schema's defaults. */
const PACKAGE_CHOICES: Record<string, unknown> = {
  'api.socketGroup': 'titus-executor',
  // interLink's API server runs as its own user (User=interlink): the package gives it a group of its own.
  'interlink.socketMode': 0o660,
  'interlink.socketGroup': 'titus-interlink',
};
/** Defaults taken from the environment of whoever parses (host name, $DOCKER_HOST). */
const HOST_DEPENDENT = ['executorId', 'docker.host'];

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable']);
const unwrap = (schema: z.ZodType): z.ZodType => {
  let s = schema;
  while (WRAPPERS.has(s.def.type)) s = (s.def as unknown as { innerType: z.ZodType }).innerType;
  return s;
};

/** Every key path of the schema, nested objects included (records are leaves). */
const schemaPaths = (schema: z.ZodType, prefix: string[] = []): string[] => {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodObject)) return [];
  return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([k, v]) => [[...prefix, k].join('.'), ...schemaPaths(v, [...prefix, k])]);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const docPaths = (doc: unknown, prefix: string[] = []): string[] =>
  isObject(doc) ? Object.entries(doc).flatMap(([k, v]) => [[...prefix, k].join('.'), ...docPaths(v, [...prefix, k])]) : [];

const get = (obj: unknown, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), obj);
const without = (obj: unknown, paths: readonly string[]): unknown => {
  const copy = structuredClone(obj) as Record<string, unknown>;
  for (const p of paths) {
    const keys = p.split('.');
    const parent = get(copy, keys.slice(0, -1).join('.')) ?? (keys.length === 1 ? copy : undefined);
    if (isObject(parent)) delete parent[keys.at(-1) ?? ''];
  }
  return copy;
};

const uncommented = text
  .split('\n')
  .map((line) => line.replace(COMMENTED_SETTING, '$1$2'))
  .join('\n');

t.test('the shipped config parses, and so do its commented-out examples', async (t) => {
  t.doesNotThrow(() => parseConfig(parseYaml(text)), 'as shipped');
  t.doesNotThrow(() => parseConfig(parseYaml(uncommented)), 'with every example uncommented');
});

t.test('every setting of the schema appears in the shipped config', async (t) => {
  const inFile = new Set(docPaths(parseYaml(uncommented)));
  const missing = schemaPaths(configSchema).filter((p) => !inFile.has(p));
  t.same(missing, [], 'add these to debian/config.yaml, documented');
});

t.test('every setting has its own comment right above it', async (t) => {
  const known = new Set(schemaPaths(configSchema));
  const lines = text.split('\n');
  const stack: Array<{ indent: number; key: string }> = [];
  const undocumented: string[] = [];
  lines.forEach((line, i) => {
    const m = PROSE.test(line) ? null : SETTING.exec(line);
    if (m === null) return;
    const indent = (m[1] ?? '').length;
    while ((stack.at(-1)?.indent ?? -1) >= indent) stack.pop();
    stack.push({ indent, key: m[2] ?? '' });
    const path = stack.map((s) => s.key).join('.');
    if (!known.has(path)) return; // entries of a map such as hardCodedEnv
    if (!PROSE.test(lines[i - 1] ?? '')) undocumented.push(`line ${i + 1}: ${path}`);
  });
  t.same(undocumented, []);
});

t.test('active values are the schema defaults, except the package’s own choices', async (t) => {
  const shipped = parseConfig(parseYaml(text));
  const defaults = parseConfig({});
  for (const [path, value] of Object.entries(PACKAGE_CHOICES)) t.same(get(shipped, path), value, path);
  const ignore = [...HOST_DEPENDENT, ...Object.keys(PACKAGE_CHOICES)];
  t.same(without(shipped, ignore), without(defaults, ignore));
  t.equal(shipped.docker.host, 'unix:///var/run/docker.sock', 'the local engine, whatever $DOCKER_HOST the builder had');
  t.notOk(isObject(parseYaml(text)) && 'executorId' in (parseYaml(text) as object), 'executorId is left to the host name');
});
