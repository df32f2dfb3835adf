/**
 * runCommand with input for a command that exits without reading it (as `nft -f -`
 * or `ip -batch -` do when they fail early): the command's exit status is the
 * answer; the closed pipe (EPIPE) must not become an uncaught exception that
 * takes the executor down.
 */
import t from 'tap';
import { CommandError, runCommand } from '../../src/common/command-runner.js';

t.test('input to a command that exits at once: its exit code, not an EPIPE crash', async (t) => {
  // Larger than a pipe buffer, so the write is still going on when the reader is gone.
  const input = 'x'.repeat(4 * 1024 * 1024);
  for (let i = 0; i < 5; i++) {
    const err = await runCommand(['sh', '-c', 'exit 3'], { input }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof CommandError, `attempt ${i + 1}: a CommandError (${String(err)})`);
    t.equal((err as CommandError).code, 3, 'with the exit code of the command');
  }
});

t.test('allowFailure: the exit code is resolved, the input closed quietly', async (t) => {
  const r = await runCommand(['sh', '-c', 'exit 4'], { input: 'y'.repeat(4 * 1024 * 1024), allowFailure: true });
  t.equal(r.code, 4);
});

t.test('a command that reads its input still gets all of it', async (t) => {
  const r = await runCommand(['wc', '-c'], { input: 'z'.repeat(1_000_000) });
  t.equal(r.stdout.trim(), '1000000');
});
