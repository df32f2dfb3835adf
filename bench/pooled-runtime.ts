/**
 * The runtime the pooled executor's tasks run under in the bench: a stand-in
 * for oci-add-hooks that, like the real wrapper (and the test fake), takes
 * `--hook-config-path` and `--runtime-path` out of its arguments, merges the
 * hook config's hooks into the bundle's config.json on `create`, and execs
 * runc. The test fake does the merge in node (tens of ms per create, which
 * would be measured as the pool's cost); the real wrapper is a small Go
 * binary. This one is sh, tr, sed and tail: a few ms, nearer the real one.
 * It prepends the hooks to config.json; Docker writes no hooks of its own for
 * a container that joins another's network (were it to, Go's decoder would
 * keep Docker's, the executor's hostname probe would fail and the pool would
 * stay off, which the bench reports as an error).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Registered with the bench's engine under this name; the plain executor's default (oci-add-hooks) stays unregistered, so only the pooled one pools. */
export const POOL_BENCH_RUNTIME = 'titus-bench-oci-add-hooks';

export interface PooledRuntime {
  readonly dir: string;
  /** The hook config the pooled executor writes its hostname hook into (gpu.hookConfigPath). */
  readonly hookConfigPath: string;
  /** For startHarness({ runtimes }). */
  readonly runtimes: Record<string, string>;
  remove(): void;
}

/** The wrapper, as lines (the shell's ${...} would be template placeholders in a template literal). */
const SCRIPT = [
  "#!/bin/sh",
  "set -eu",
  "hook_config=\"\"",
  "runtime=\"runc\"",
  "count=$#",
  "while [ \"$count\" -gt 0 ]; do",
  "  arg=\"$1\"; shift; count=$((count - 1))",
  "  case \"$arg\" in",
  "    --hook-config-path) hook_config=\"$1\"; shift; count=$((count - 1)); continue ;;",
  "    --runtime-path) runtime=\"$1\"; shift; count=$((count - 1)); continue ;;",
  "  esac",
  "  set -- \"$@\" \"$arg\"",
  "done",
  "is_create=no",
  "bundle=\"\"",
  "previous=\"\"",
  "for arg in \"$@\"; do",
  "  case \"$previous\" in --bundle|-b) bundle=\"$arg\" ;; esac",
  "  case \"$arg\" in create) is_create=yes ;; --bundle=*) bundle=\"${arg#*=}\" ;; esac",
  "  previous=\"$arg\"",
  "done",
  "if [ \"$is_create\" = yes ] && [ -n \"$bundle\" ] && [ -n \"$hook_config\" ] && [ -r \"$hook_config\" ]; then",
  "  inner=$(tr -d '\\n' < \"$hook_config\" | sed 's/^[[:space:]]*{[[:space:]]*\"hooks\"[[:space:]]*:[[:space:]]*//; s/}[[:space:]]*$//')",
  "  cfg=\"$bundle/config.json\"",
  "  { printf '{\"hooks\":%s,' \"$inner\"; tail -c +2 \"$cfg\"; } > \"$cfg.bench-hooks\"",
  "  mv \"$cfg.bench-hooks\" \"$cfg\"",
  "fi",
  "exec \"$runtime\" \"$@\"",
  '',
].join('\n');

export const preparePooledRuntime = (): PooledRuntime => {
  const dir = mkdtempSync(join(tmpdir(), 'titus-bench-hooks-'));
  const hookConfigPath = join(dir, 'oci-hooks.json');
  const wrapper = join(dir, 'oci-add-hooks');
  // dockerd passes no runtimeArgs with --add-runtime: the flags daemon.json's runtimeArgs would give are baked in
  // (one script, so each runtime call costs one exec of sh, as one exec of the Go wrapper).
  const script = SCRIPT.replace('#!/bin/sh\n', `#!/bin/sh\nset -- --hook-config-path '${hookConfigPath}' --runtime-path runc "$@"\n`);
  writeFileSync(wrapper, script, { mode: 0o755 });
  return { dir, hookConfigPath, runtimes: { [POOL_BENCH_RUNTIME]: wrapper }, remove: () => rmSync(dir, { recursive: true, force: true }) };
};
