/**
 * Issue 19, item 3, below the API: the rules admission uses (registry ports,
 * the requested process) and how a known failure before the container starts
 * is reported (FAILED with its cause, never "probably Titus bug").
 */
import t from 'tap';
import { isValidImageName } from '../../src/runtime/image-ref.js';
import { MAX_ARG_BYTES, checkRequestedProcess } from '../../src/task/entrypoint.js';
import { RuntimeError } from '../../src/runtime/runtime-errors.js';
import { errorOutcome } from '../../src/task/outcome.js';

t.test('a registry port is 1-65535', async (t) => {
  for (const good of ['127.0.0.1:1/x', '127.0.0.1:65535/x', 'reg.example:5000/a', 'localhost/app']) t.ok(isValidImageName(good), good);
  for (const bad of ['127.0.0.1:0/x', '127.0.0.1:99999/x', 'localhost:65536/app', 'reg.example:00/a']) t.notOk(isValidImageName(bad), bad);
});

t.test('the requested process is checked before anything is created', async (t) => {
  t.doesNotThrow(() => checkRequestedProcess({ entrypointStr: `echo 'a b' "c"` }));
  t.doesNotThrow(() => checkRequestedProcess({ process: { command: ['x'.repeat(MAX_ARG_BYTES)] } }), 'one argument at the limit');
  t.throws(() => checkRequestedProcess({ entrypointStr: 'echo "a' }), { code: 'INVALID_ARGUMENT', field: 'containerInfo.entrypointStr' });
  t.throws(() => checkRequestedProcess({ process: { command: ['x'.repeat(MAX_ARG_BYTES + 1)] } }), { code: 'INVALID_ARGUMENT', field: 'containerInfo.process.command.0' });
  t.throws(() => checkRequestedProcess({ process: { entrypoint: ['sh'], command: Array.from({ length: 60_000 }, () => 'a') } }), {
    code: 'INVALID_ARGUMENT',
    field: 'containerInfo.process',
  }, 'many small arguments count their pointers too');
});

t.test('known causes before the start are FAILED or say what happened', async (t) => {
  const pull = errorOutcome(new RuntimeError('pull-failed', 'pull 127.0.0.1:1/x:latest: connection refused'), false);
  t.match(pull, { state: 'FAILED', reason: 'failed', message: /^Failed to pull the image: pull 127\.0\.0\.1:1\/x:latest: connection refused$/ });
  const engineGone = errorOutcome(new RuntimeError('engine-unavailable', 'socket gone'), false);
  t.match(engineGone, { state: 'LOST', message: /^The container engine was unreachable before the container started: socket gone/ });
  t.notMatch(engineGone.message, /probably Titus bug/);
  t.match(errorOutcome(new TypeError('x is undefined'), false), { state: 'LOST', message: /probably Titus bug/ }, 'only an unknown cause is "probably Titus bug"');
});
