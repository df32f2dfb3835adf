/**
 * The Prometheus endpoint: every documented series is exposed, and values
 * follow a task through its life, first from fake status updates on a real
 * StatusBus, then from one real task on a harness engine.
 */
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/log.js';
import { loadExecutorProto } from '../../src/api/proto.js';
import { call, createClient } from '../../src/cli/client.js';
import { InstrumentedRuntime, Metrics, MetricsServer, grpcMetricsInterceptor, parseListenAddress } from '../../src/metrics/index.js';
import type { ContainerRuntime } from '../../src/runtime/container-runtime.js';
import { RuntimeError } from '../../src/runtime/runtime-errors.js';
import { StatusBus, type NewUpdate } from '../../src/task/status-bus.js';
import { TITUS_STATE, type TaskState } from '../../src/task/types.js';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import { declaredTypes, parseExposition, valueOf, type Sample } from './exposition.js';

const DOCUMENTED: ReadonlyArray<[string, string]> = [
  ['titus_executor_tasks', 'gauge'],
  ['titus_executor_tasks_ended_total', 'counter'],
  ['titus_executor_launches_total', 'counter'],
  ['titus_executor_launch_failures_total', 'counter'],
  ['titus_executor_launch_phase_seconds', 'histogram'],
  ['titus_executor_launch_seconds', 'histogram'],
  ['titus_executor_kill_seconds', 'histogram'],
  ['titus_executor_image_pull_bytes_total', 'counter'],
  ['titus_executor_image_pull_seconds', 'histogram'],
  ['titus_executor_engine_errors_total', 'counter'],
  ['titus_executor_engine_call_seconds', 'histogram'],
  ['titus_executor_grpc_calls_total', 'counter'],
  ['titus_executor_gpus_in_use', 'gauge'],
  ['titus_executor_addresses_in_use', 'gauge'],
  ['titus_executor_metadata_requests_total', 'counter'],
];

interface Endpoint {
  readonly metrics: Metrics;
  readonly address: string;
  scrape(): Promise<Sample[]>;
  text(): Promise<string>;
}

/** A Metrics with its HTTP endpoint on a free loopback port, stopped at teardown. */
const startEndpoint = async (t: Test, metrics = new Metrics({ processMetrics: false })): Promise<Endpoint> => {
  const server = new MetricsServer(metrics, '127.0.0.1:0', silentLogger());
  const address = await server.start();
  t.teardown(() => server.stop());
  const text = async (): Promise<string> => {
    const res = await fetch(`http://${address}/metrics`);
    if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}`);
    return res.text();
  };
  return { metrics, address, text, scrape: async () => parseExposition(await text()) };
};

/** Publishes one fake update of `taskId` at a chosen time. */
const publisher =
  (bus: StatusBus, taskId: string) =>
  (state: TaskState, timestampMs: number, message = state.toLowerCase(), extra: Partial<NewUpdate> = {}): void => {
    bus.publish({ taskId, state, message, titusState: TITUS_STATE[state], reasonCode: 'normal', timestampMs, ...extra });
  };

t.test('the endpoint documents every series and 404s elsewhere', async (t) => {
  const ep = await startEndpoint(t, new Metrics());
  const types = declaredTypes(await ep.text());
  for (const [name, type] of DOCUMENTED) t.equal(types.get(name), type, `${name} is a ${type}`);
  t.ok(types.has('titus_executor_process_resident_memory_bytes'), 'process metrics under the same prefix');
  const samples = await ep.scrape();
  for (const state of ['ACCEPTED', 'STARTING', 'RUNNING', 'KILL_INITIATED']) {
    t.equal(valueOf(samples, 'titus_executor_tasks', { state }), 0, `tasks{state=${state}} starts at 0`);
  }
  for (const phase of ['admission', 'pull', 'network', 'create', 'start']) {
    t.equal(valueOf(samples, 'titus_executor_launch_phase_seconds_count', { phase }), 0, `phase ${phase} exists at 0`);
  }
  t.equal((await fetch(`http://${ep.address}/`)).status, 404, 'other paths are 404');
  t.equal((await fetch(`http://${ep.address}/metrics`, { method: 'POST' })).status, 405, 'only GET and HEAD');
  t.match((await fetch(`http://${ep.address}/metrics`)).headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/, 'Prometheus text format');
});

t.test('a task through its life: state gauge, phases, launch and kill durations', async (t) => {
  const ep = await startEndpoint(t);
  const bus = new StatusBus(100);
  ep.metrics.observeBus(bus);
  const pub = publisher(bus, 'task-1');

  pub('ACCEPTED', 1_000);
  let s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_launches_total'), 1, 'one launch');
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'ACCEPTED' }), 1, 'ACCEPTED 1');

  pub('STARTING', 1_010, 'pulling image reg/busybox:latest');
  pub('STARTING', 1_500, 'pulling image reg/busybox:latest: 1.0 of 2.0 MB (0/1 layers)');
  pub('STARTING', 2_010, 'creating container');
  s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'ACCEPTED' }), 0, 'left ACCEPTED');
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'STARTING' }), 1, 'STARTING 1');
  t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_sum', { phase: 'admission' }), 0.01, 'admission: accepted → pulling');
  t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_sum', { phase: 'pull' }), 1, 'pull: pulling → creating, progress updates ignored');
  t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_count', { phase: 'create' }), 0, 'create still open');

  pub('STARTING', 2_030, 'starting container', { containerId: 'c1' });
  pub('RUNNING', 2_130, 'main container is now running');
  s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'STARTING' }), 0, 'left STARTING');
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'RUNNING' }), 1, 'RUNNING 1');
  t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_sum', { phase: 'create' }), 0.02, 'create');
  t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_sum', { phase: 'start' }), 0.1, 'start');
  t.equal(valueOf(s, 'titus_executor_launch_seconds_sum'), 1.13, 'launch: accepted → running');
  t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_bucket', { phase: 'start', le: '0.1' }), 1, 'the start phase lands in its bucket');

  pub('KILL_INITIATED', 3_000, 'kill requested');
  s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'RUNNING' }), 0, 'left RUNNING');
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'KILL_INITIATED' }), 1, 'KILL_INITIATED 1');

  pub('KILLED', 3_500, 'task killed', { reasonCode: 'killed' });
  s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'KILL_INITIATED' }), 0, 'no live task left');
  t.equal(valueOf(s, 'titus_executor_kill_seconds_sum'), 0.5, 'kill: kill initiated → killed');
  t.equal(valueOf(s, 'titus_executor_tasks_ended_total', { state: 'KILLED', reason: 'killed' }), 1, 'one KILLED');
  t.equal(valueOf(s, 'titus_executor_launch_failures_total'), undefined, 'a task killed after RUNNING is no launch failure');
});

t.test('a task that fails before RUNNING is a launch failure by reason; one that fails after is not', async (t) => {
  const ep = await startEndpoint(t);
  const bus = new StatusBus(100);
  ep.metrics.observeBus(bus);
  const bad = publisher(bus, 'bad-image');
  bad('ACCEPTED', 0);
  bad('STARTING', 5, 'pulling image nope:latest');
  bad('FAILED', 50, 'image not found', { reasonCode: 'invalidRequest' });
  const lost = publisher(bus, 'engine-gone');
  lost('ACCEPTED', 0);
  lost('LOST', 10, 'engine unreachable', { reasonCode: 'lost' });
  const crashed = publisher(bus, 'exits-5');
  crashed('ACCEPTED', 0);
  crashed('RUNNING', 10, 'running');
  crashed('FAILED', 20, 'exited with code 5', { reasonCode: 'failed' });
  const s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_launch_failures_total', { reason: 'invalidRequest' }), 1);
  t.equal(valueOf(s, 'titus_executor_launch_failures_total', { reason: 'lost' }), 1);
  t.equal(valueOf(s, 'titus_executor_launch_failures_total', { reason: 'failed' }), undefined, 'failed after RUNNING: not a launch failure');
  t.equal(valueOf(s, 'titus_executor_tasks_ended_total', { state: 'FAILED', reason: 'failed' }), 1);
  t.equal(valueOf(s, 'titus_executor_launches_total'), 3);
  for (const state of ['ACCEPTED', 'STARTING', 'RUNNING']) t.equal(valueOf(s, 'titus_executor_tasks', { state }), 0, `no ${state} left`);
});

t.test('GPUs in use are read at scrape time', async (t) => {
  const ep = await startEndpoint(t);
  let inUse = 2;
  ep.metrics.trackGpusInUse(() => inUse);
  t.equal(valueOf(await ep.scrape(), 'titus_executor_gpus_in_use'), 2);
  inUse = 0;
  t.equal(valueOf(await ep.scrape(), 'titus_executor_gpus_in_use'), 0);
});

const unexpected = (name: string) => (): Promise<never> => Promise.reject(new Error(`unexpected call: ${name}`));

/** A runtime whose every call fails unless the test provides it. */
const fakeRuntime = (overrides: Partial<ContainerRuntime>): ContainerRuntime => ({
  version: unexpected('version'),
  findImage: unexpected('findImage'),
  pullImage: unexpected('pullImage'),
  createContainer: unexpected('createContainer'),
  startContainer: unexpected('startContainer'),
  waitContainer: unexpected('waitContainer'),
  stopContainer: unexpected('stopContainer'),
  removeContainer: unexpected('removeContainer'),
  containerOutput: unexpected('containerOutput'),
  listContainers: unexpected('listContainers'),
  ...overrides,
});

t.test('engine calls: durations, errors by operation and kind, pull bytes and time', async (t) => {
  const ep = await startEndpoint(t);
  const runtime = new InstrumentedRuntime(
    fakeRuntime({
      createContainer: () => Promise.reject(new RuntimeError('conflict', 'exists')),
      startContainer: () => Promise.resolve(),
      pullImage: (_image, onProgress) => {
        onProgress({ image: 'x', currentBytes: 1000, totalBytes: 3000, layersDone: 0, layersTotal: 1 });
        onProgress({ image: 'x', currentBytes: 3000, totalBytes: 3000, layersDone: 1, layersTotal: 1 });
        return Promise.resolve();
      },
      removeContainer: () => Promise.reject(new RuntimeError('aborted', 'cancelled')),
    }),
    ep.metrics,
  );
  await t.rejects(runtime.createContainer({} as Parameters<ContainerRuntime['createContainer']>[0]));
  await runtime.startContainer('c1');
  const seen: number[] = [];
  await runtime.pullImage({ repository: 'x', tag: 'latest', ref: 'x:latest' }, (p) => seen.push(p.currentBytes), new AbortController().signal);
  await t.rejects(runtime.removeContainer('c1'));
  const s = await ep.scrape();
  t.same(seen, [1000, 3000], 'progress still reaches the caller');
  t.equal(valueOf(s, 'titus_executor_engine_errors_total', { operation: 'create_container', kind: 'conflict' }), 1);
  t.equal(valueOf(s, 'titus_executor_engine_errors_total', { operation: 'remove_container' }), undefined, 'a cancelled call is no engine error');
  t.equal(valueOf(s, 'titus_executor_engine_call_seconds_count', { operation: 'start_container' }), 1);
  t.equal(valueOf(s, 'titus_executor_image_pull_bytes_total'), 3000);
  t.equal(valueOf(s, 'titus_executor_image_pull_seconds_count', { result: 'ok' }), 1);
});

t.test('gRPC calls by service, method and code, through the server interceptor', async (t) => {
  const ep = await startEndpoint(t);
  const dir = mkdtempSync(join(tmpdir(), 'titus-metrics-'));
  const socket = join(dir, 'grpc.sock');
  const server = new grpc.Server({ interceptors: [grpcMetricsInterceptor(ep.metrics)] });
  const proto = loadExecutorProto();
  server.addService(proto.grpcType.titus.executor.v1.TitusExecutor.service, {
    GetTask: (_call: unknown, cb: (err: Partial<grpc.StatusObject> | null) => void) => cb({ code: grpc.status.NOT_FOUND, details: 'no task' }),
    ListTasks: (_call: unknown, cb: (err: null, res: object) => void) => cb(null, { tasks: [] }),
    WatchTaskStatus: (stream: grpc.ServerWritableStream<unknown, object>) => {
      stream.write({ snapshotEnd: { sequence: '7' } });
      stream.end();
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const client = createClient({ socket });
  t.teardown(() => {
    client.close();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  await call(client.ListTasks.bind(client), {});
  await call(client.ListTasks.bind(client), {});
  await t.rejects(call(client.GetTask.bind(client), { taskId: 'x' }), { code: grpc.status.NOT_FOUND });
  await t.rejects(call(client.KillTask.bind(client), { taskId: 'x' }), { code: grpc.status.UNIMPLEMENTED });
  const streamed = await new Promise<string[]>((resolve, reject) => {
    const events: string[] = [];
    const stream = client.WatchTaskStatus({});
    stream.on('data', (e) => events.push(e.snapshotEnd?.sequence ?? '?'));
    stream.on('error', reject);
    stream.on('end', () => resolve(events));
  });
  t.same(streamed, ['7'], 'a server stream passes through the interceptor untouched');
  const s = await ep.scrape();
  const service = 'titus.executor.v1.TitusExecutor';
  t.equal(valueOf(s, 'titus_executor_grpc_calls_total', { service, method: 'ListTasks', code: 'OK' }), 2);
  t.equal(valueOf(s, 'titus_executor_grpc_calls_total', { service, method: 'GetTask', code: 'NOT_FOUND' }), 1);
  t.equal(valueOf(s, 'titus_executor_grpc_calls_total', { method: 'KillTask', code: 'UNIMPLEMENTED' }), 1);
  t.equal(valueOf(s, 'titus_executor_grpc_calls_total', { service, method: 'WatchTaskStatus', code: 'OK' }), 1, 'streams are counted when they end');
});

t.test('listen addresses', async (t) => {
  t.same(parseListenAddress('127.0.0.1:9273'), { host: '127.0.0.1', port: 9273 });
  t.same(parseListenAddress('[::1]:9273'), { host: '::1', port: 9273 });
  t.same(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
  for (const bad of ['9273', '127.0.0.1', '::1:9273', 'host:99999', '']) t.throws(() => parseListenAddress(bad), { code: 'INVALID_ARGUMENT' }, bad);
});

t.test('a real task on a harness engine moves the series', async (t) => {
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h);
  const ep = await startEndpoint(t);
  ep.metrics.observeBus(ex.executor.tasks.bus);
  const taskId = uniqueTaskId('metrics');
  await ex.launch({ taskId, containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['sleep', '30'] } } });
  await ex.waitForState(taskId, 'TASK_STATE_RUNNING');
  let s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_launches_total'), 1, 'one launch');
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'RUNNING' }), 1, 'RUNNING while it runs');
  for (const phase of ['admission', 'pull', 'network', 'create', 'start']) {
    t.equal(valueOf(s, 'titus_executor_launch_phase_seconds_count', { phase }), 1, `one ${phase} phase`);
  }
  t.ok((valueOf(s, 'titus_executor_launch_phase_seconds_sum', { phase: 'pull' }) ?? 0) > 0, 'the pull took time (a real pull)');
  await ex.kill(taskId, 5);
  await ex.waitForState(taskId, 'terminal');
  s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'RUNNING' }), 0, 'not RUNNING after the kill');
  t.equal(valueOf(s, 'titus_executor_tasks', { state: 'KILL_INITIATED' }), 0);
  t.equal(valueOf(s, 'titus_executor_tasks_ended_total', { state: 'KILLED', reason: 'killed' }), 1);
  t.equal(valueOf(s, 'titus_executor_kill_seconds_count'), 1, 'one kill timed');
});

t.test('metadata proxy requests by route and status, and addresses in use', async (t) => {
  const ep = await startEndpoint(t);
  let used = { ipv4: 3, ipv6: 1 };
  ep.metrics.trackAddressesInUse(() => used);
  ep.metrics.recordMetadataRequest('credentials', 200);
  ep.metrics.recordMetadataRequest('credentials', 200);
  ep.metrics.recordMetadataRequest('token', 401);
  let s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_metadata_requests_total', { route: 'credentials', code: '200' }), 2);
  t.equal(valueOf(s, 'titus_executor_metadata_requests_total', { route: 'token', code: '401' }), 1);
  t.equal(valueOf(s, 'titus_executor_addresses_in_use', { family: 'ipv4' }), 3);
  t.equal(valueOf(s, 'titus_executor_addresses_in_use', { family: 'ipv6' }), 1);
  used = { ipv4: 0, ipv6: 0 };
  s = await ep.scrape();
  t.equal(valueOf(s, 'titus_executor_addresses_in_use', { family: 'ipv4' }), 0, 'read at each scrape');
});
