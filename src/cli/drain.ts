import { Argument, type Command } from 'commander';
import { call, createClient } from './client.js';
import { toProtoJson } from './format.js';
import { formatDrain } from './host.js';
import type { GlobalOptions } from './options.js';

/**
 * `drain on` makes the host refuse new launches (UNAVAILABLE) while running
 * tasks finish; `drain off` accepts them again. Both survive restarts. Without
 * an argument it shows the current state.
 */
export const registerDrain = (program: Command, globals: () => GlobalOptions): void => {
  program
    .command('drain')
    .description('refuse new tasks while running ones finish (on), accept them again (off), or show the state')
    .addArgument(new Argument('[state]', 'on or off; omitted: show the current state').choices(['on', 'off']))
    .option('--reason <text>', 'why, shown in refusals and in `titus-executor host`', '')
    .action(async (state: 'on' | 'off' | undefined, opts: { reason: string }) => {
      const client = createClient(globals());
      try {
        const drain =
          state === undefined
            ? (await call(client.GetHostResources.bind(client), {})).drain
            : await call(client.SetDrain.bind(client), { draining: state === 'on', reason: opts.reason });
        console.log(globals().output === 'json' ? JSON.stringify(toProtoJson(drain ?? {}), null, 2) : formatDrain(drain ?? undefined));
      } finally {
        client.close();
      }
    });
};
