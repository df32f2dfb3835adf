/**
 * How failures reach a client, at both doors: an unexpected error's text
 * stays in the log (not in the INTERNAL reply), and an engine that is away
 * is "try again later" on interLink (503) as it is on gRPC (UNAVAILABLE).
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { ExecutorError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/log.js';
import { toGrpcError } from '../../src/api/status-map.js';
import { httpStatusFor } from '../../src/k8s/interlink-server.js';
import { RuntimeError } from '../../src/runtime/runtime-errors.js';

t.test('an unexpected error becomes INTERNAL without its text', async (t) => {
  const reply = toGrpcError(new Error('EACCES: permission denied, open /var/lib/titus-secret/key'), silentLogger(), 'LaunchTask');
  t.equal(reply.code, grpc.status.INTERNAL);
  t.match(reply.details, /LaunchTask/, 'names the method');
  t.notMatch(reply.details, /EACCES|titus-secret/, 'does not carry the internal error text');
});

t.test('expected errors keep their message (it is written for the caller)', async (t) => {
  const reply = toGrpcError(new ExecutorError('INVALID_ARGUMENT', 'taskId: is required'), silentLogger(), 'LaunchTask');
  t.same(reply, { code: grpc.status.INVALID_ARGUMENT, details: 'taskId: is required' });
});

t.test('an engine that is away: UNAVAILABLE on gRPC, 503 on interLink', async (t) => {
  const away = new RuntimeError('engine-unavailable', 'connect ENOENT /run/docker.sock');
  t.equal(toGrpcError(away, silentLogger(), 'LaunchTask').code, grpc.status.UNAVAILABLE);
  t.equal(httpStatusFor(away), 503);
  t.equal(httpStatusFor(new ExecutorError('UNAVAILABLE', 'draining')), 503);
  t.equal(httpStatusFor(new ExecutorError('NOT_FOUND', 'no such pod')), 404);
  t.equal(httpStatusFor(new Error('boom')), 500);
});
