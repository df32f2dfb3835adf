/**
 * WatchTaskStatus refusals reach the client as a status (they once left the
 * stream open forever): a bad task id is INVALID_ARGUMENT, a resume point
 * older than the retained history OUT_OF_RANGE. Real executor on a harness engine.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { useHarness } from '../harness/index.js';
import { startTestExecutor, uniqueTaskId } from '../helpers/executor.js';
import type { TitusExecutorClient } from '../../src/proto/generated/titus/executor/v1/TitusExecutor.js';
import type { WatchTaskStatusRequest } from '../../src/proto/generated/titus/executor/v1/WatchTaskStatusRequest.js';

const watchError = (client: TitusExecutorClient, req: WatchTaskStatusRequest): Promise<grpc.ServiceError> =>
  new Promise((resolve, reject) => {
    const stream = client.WatchTaskStatus(req);
    const timer = setTimeout(() => {
      stream.cancel();
      reject(new Error('the stream stayed open'));
    }, 5000);
    stream.on('data', () => undefined);
    stream.on('error', (err: grpc.ServiceError) => {
      clearTimeout(timer);
      resolve(err);
    });
  });

t.test('watch refusals end the stream with their status', async (t) => {
  const h = await useHarness(t);
  const ex = await startTestExecutor(t, h, { watch: { retainedUpdates: 3 } });
  await ex.run({ taskId: uniqueTaskId('w'), containerInfo: { fullyQualifiedImage: h.images.busyboxRepo, process: { command: ['true'] } } });
  const bad = await watchError(ex.client, { taskIds: ['not a task id!'] });
  t.equal(bad.code, grpc.status.INVALID_ARGUMENT);
  t.match(bad.details, /taskIds\.0/);
  const old = await watchError(ex.client, { afterSequence: '1' });
  t.equal(old.code, grpc.status.OUT_OF_RANGE);
  t.match(old.details, /older than the retained history .*resubscribe with sendSnapshot/);
});
