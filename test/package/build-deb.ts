/**
 * Builds the .deb with scripts/package.sh from the existing build (tests
 * assume `npm run build` ran, as `npm test` does) and reads it back.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/common/command-runner.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PACKAGE_VERSION = (JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { version: string }).version;

export interface BuiltDeb {
  readonly path: string;
  readonly seconds: number;
}

/** gzip: several times faster to build than the release's xz, same contents. */
export const buildDeb = async (out: string, opts: { version?: string; compression?: 'xz' | 'gzip' } = {}): Promise<BuiltDeb> => {
  const started = Date.now();
  const argv = ['bash', `${REPO}scripts/package.sh`, '--no-build', '--out', out, '--compression', opts.compression ?? 'gzip'];
  if (opts.version !== undefined) argv.push('--version', opts.version);
  const { stdout } = await runCommand(argv, { timeoutMs: 300_000 });
  return { path: stdout.trim().split('\n').at(-1) ?? '', seconds: (Date.now() - started) / 1000 };
};

export const dpkgDeb = async (...args: string[]): Promise<string> => (await runCommand(['dpkg-deb', ...args], { timeoutMs: 120_000 })).stdout;

/** `Key=value` lines of a systemd unit (the last one wins, as for most keys). */
export const unitSettings = (text: string): Map<string, string> => {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) settings.set(m[1], m[2] ?? '');
  }
  return settings;
};
