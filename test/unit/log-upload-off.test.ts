/**
 * Where log upload is off (logUpload.enabled false, the default), a launch that
 * asks for an upload is refused naming the field: it would otherwise run with
 * its logs kept on this host only (docs/fields.md, "nothing silently ignored").
 * The runtime is a proxy that fails the test if anything reaches it.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/config.js';
import { isExecutorError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { TaskManager } from '../../src/task/task-manager.js';
import { createLogUploadPart } from '../../src/parts/log-upload-part.js';
import type { ContainerRuntime } from '../../src/runtime/container-runtime.js';
import type { LaunchSpec } from '../../src/task/types.js';

const RESOURCES = { cpu: 1, memoryMb: 64, diskMb: 64, networkMbps: 0, gpus: 0 };

const refusalOf = (containerInfo: Record<string, unknown>): unknown => {
  const runtime = new Proxy({} as ContainerRuntime, {
    get: (_target, name) => () => {
      throw new Error(`runtime.${String(name)} was reached`);
    },
  });
  const config = parseConfig({});
  const tasks = new TaskManager({ runtime, config, log: silentLogger(), parts: [createLogUploadPart(undefined, config.logUpload)] });
  try {
    tasks.launch({ taskId: 'log-upload-off', containerInfo: { imageName: 'busybox', ...containerInfo }, resources: RESOURCES, labels: {} } as unknown as LaunchSpec);
  } catch (err) {
    return err;
  }
  return undefined;
};

t.test('logUploadRegexp on a host without upload: INVALID_ARGUMENT naming it', async (t) => {
  const err = refusalOf({ logUploadRegexp: '.*\\.log' });
  t.ok(isExecutorError(err, 'INVALID_ARGUMENT'), String(err));
  t.match(String((err as Error).message), /^containerInfo\.logUploadRegexp: log upload to S3 is off on this host/);
});

t.test('a log attribute asking for an upload: INVALID_ARGUMENT naming the attribute', async (t) => {
  for (const key of ['titusParameter.agent.log.s3BucketName', 'titusParameter.agent.log.s3WriterRole', 'titusParameter.agent.log.keepLocalFileAfterUpload']) {
    const err = refusalOf({ passthroughAttributes: { [key]: 'x' } });
    t.ok(isExecutorError(err, 'INVALID_ARGUMENT'), `${key}: ${String(err)}`);
    t.match(String((err as Error).message), new RegExp(`^containerInfo\\.passthroughAttributes\\.${key.replaceAll('.', '\\.')}: log upload to S3 is off`));
  }
});

t.test('asking for no upload, or nothing, is not refused (the part lets it through to the runtime)', async (t) => {
  for (const info of [{}, { logUploadRegexp: '' }, { passthroughAttributes: { 'titusParameter.agent.log.disableUploads': 'true' } }]) {
    const err = refusalOf(info);
    t.notOk(isExecutorError(err, 'INVALID_ARGUMENT'), `${JSON.stringify(info)}: not refused (${String(err)})`);
  }
});
