#!/usr/bin/env bash
# Builds titus-executor_<version>_amd64.deb with dpkg-deb (docs/packaging.md).
#
#   scripts/package.sh [--version V] [--out DIR] [--no-build] [--compression xz|gzip|zstd]
#
# By default the JavaScript is compiled afresh into the staging dir (no stale
# files from an old dist/); --no-build packages the existing dist/src instead.
#
# Layout: the app (dist/src, proto, production node_modules, bin, build/
# artifacts when present, and this machine's Node.js binary) goes to
# /usr/lib/titus-executor; debian/ holds everything else the package ships.
# Prints the path of the .deb on stdout; progress goes to stderr.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
repo=$(pwd)

version=""
out="$repo/dist/deb"
build=1
# xz is Debian's default and the smallest; gzip (level 6) builds ~5x faster and
# is ~50% bigger (the fast tests use it); zstd is fastest but lintian 2.116
# (Debian 12) calls a zstd .deb malformed, although dpkg reads it.
compression=xz

while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --compression) compression=$2; shift 2 ;;
    *) echo "package: unknown argument $1" >&2; exit 64 ;;
  esac
done

die() { echo "package: $*" >&2; exit 1; }
log() { echo "package: $*" >&2; }
started=$SECONDS

# Tools: dpkg-deb is always there; dpkg-shlibdeps (dpkg-dev) computes the
# bundled node's library dependencies; strip (binutils) drops its symbols.
need=()
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)
command -v strip >/dev/null 2>&1 || need+=(binutils)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; install them (or run as root)"
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

[ "$(dpkg --print-architecture)" = amd64 ] || die "the bundled node binary would not be amd64"
case "$compression" in
  xz) zopts=(-Zxz) ;;
  gzip) zopts=(-Zgzip -z6) ;;
  zstd) zopts=(-Zzstd) ;;
  *) die "unknown compression $compression" ;;
esac
[ -d node_modules ] || die "node_modules is missing: run npm ci"

version=${version:-$(node -p 'require("./package.json").version')}
# No hyphen: a native package, whose version is the project's.
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "not a native Debian version: $version"

commit=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit-dirty"; fi
fi

node_bin=$(node -p process.execPath)
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $node_bin is older than 20"

stage=$(mktemp -d "${TMPDIR:-/tmp}/titus-executor-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
# dpkg-shlibdeps wants the tree at debian/<package> next to debian/control.
root=$stage/debian/titus-executor
app=$root/usr/lib/titus-executor
install -d "$app/dist" "$app/bin"

# --- the app ---------------------------------------------------------------
if [ "$build" = 1 ]; then
  log "compiling"
  npx --no-install tsc -p tsconfig.json --outDir "$stage/tsc" >&2
  cp -a "$stage/tsc/src" "$app/dist/src"
else
  [ -f dist/src/cli/main.js ] || die "dist/src is missing: run npm run build"
  cp -a dist/src "$app/dist/src"
fi
find "$app/dist" -name '*.map' -delete
cp -a proto "$app/proto"
# The seccomp profiles FUSE and image-building tasks get (src/task/task-security.ts reads them at start).
cp -a security "$app/security"
# The pooled task's hostname hook (docs/sandbox-pool.md), run by oci-add-hooks from the package root.
install -D -m0755 hooks/task-hostname "$app/hooks/task-hostname"
# Run by the bundled node through /usr/bin/titus-executor, never executed itself.
install -m0644 bin/titus-executor.js "$app/bin/titus-executor.js"

# Production dependencies: the installed tree pruned by npm against the lockfile.
cp package.json package-lock.json "$app/"
cp -a node_modules "$app/node_modules"
(cd "$app" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error >&2)
rm -f "$app/package-lock.json"
nm=$app/node_modules
rm -f "$nm/.package-lock.json"
# Command links of the dependencies (at any depth): nothing here runs them.
find "$nm" -type d -name .bin -prune -exec rm -rf {} +
# What a running program never reads: docs, type declarations, source maps,
# editor/VCS/lint configs, and the intermediate outputs of native builds.
# Licence files stay.
find "$nm" -type d \( -name obj.target -o -name .deps -o -name .github -o -name .husky \) -prune -exec rm -rf {} +
find "$nm" -type f \
  \( -name '*.md' -o -name '*.markdown' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o \( -name '*.ts' -a ! -name '*.d.ts' \) -o -name '*.html' -o -name '.npmignore' -o -name '.gitattributes' \
  -o -name '.gitignore' -o -name '.eslintrc*' -o -name '.eslintignore' -o -name '.editorconfig' -o -name '.prettierrc*' \
  -o -name '.travis.yml' -o -name 'Makefile' -o -name '*.mk' -o -name 'config.gypi' -o -name '*.a' \) \
  ! -iname 'licen[cs]e*' ! -iname 'copying*' -delete
find "$nm" -type d -empty -delete

# Native artifacts of this project (addon, eBPF object), once there are any.
if [ -d build ]; then
  (cd build && find . -type f \( -name '*.node' -o -name '*.o' \) ! -path '*/obj.target/*' ! -path '*/.deps/*' -print0) |
    while IFS= read -r -d '' f; do install -D -m0644 "build/$f" "$app/build/$f"; done
fi

# The runtime: this machine's node, so the package needs no nodejs package.
install -m0755 "$node_bin" "$app/node"
node_license=""
for f in "$(dirname "$node_bin")/../share/doc/node/LICENSE" /usr/share/doc/nodejs/LICENSE; do
  if [ -f "$f" ]; then node_license=$f; break; fi
done

# Symbols are not needed to run (addons link against node's dynamic symbols,
# which strip keeps); eBPF objects are never stripped (their BTF is needed).
find "$app" -type f \( -name node -o -name '*.node' \) -exec strip --strip-unneeded --remove-section=.comment --remove-section=.note {} +
find "$app" -type d -exec chmod 0755 {} +
# The hooks are run by the OCI runtime (oci-add-hooks), so they keep their 0755.
find "$app" -type f ! -path "$app/node" ! -path "$app/hooks/*" -exec chmod 0644 {} +

# package.json as the program reads it (--version prints version and gitCommit).
node -e '
  const pkg = require(process.argv[1]);
  const out = { name: pkg.name, version: process.argv[2], gitCommit: process.argv[3], description: pkg.description,
    license: pkg.license, type: pkg.type, engines: pkg.engines, bin: pkg.bin, dependencies: pkg.dependencies };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' "$repo/package.json" "$version" "$commit" >"$app/package.json"

# --- the rest of the package ----------------------------------------------
install -D -m0755 debian/titus-executor.wrapper "$root/usr/bin/titus-executor"
install -D -m0644 debian/titus-executor.service "$root/lib/systemd/system/titus-executor.service"
install -D -m0644 "debian/titus-executor@.service" "$root/lib/systemd/system/titus-executor@.service"
install -D -m0644 "debian/titus-executor-pod@.service" "$root/lib/systemd/system/titus-executor-pod@.service"
install -D -m0644 debian/titus-executor.tmpfiles "$root/usr/lib/tmpfiles.d/titus-executor.conf"
install -D -m0644 debian/config.yaml "$root/etc/titus-executor/config.yaml"
install -d -m0755 "$root/var/lib/titus-executor"
install -D -m0644 debian/lintian-overrides "$root/usr/share/lintian/overrides/titus-executor"
install -d "$root/usr/share/man/man1"
gzip -9n <debian/titus-executor.1 >"$root/usr/share/man/man1/titus-executor.1.gz"

doc=$root/usr/share/doc/titus-executor
install -D -m0644 debian/copyright "$doc/copyright"
install -m0644 debian/README.Debian "$doc/README.Debian"
if [ -n "$node_license" ]; then gzip -9n <"$node_license" >"$doc/LICENSE.node.gz"; fi
maintainer=$(sed -n 's/^Maintainer: //p' debian/control)
top=$(sed -n '1s/^titus-executor (\([^)]*\)).*/\1/p' debian/changelog)
{
  if [ "$top" != "$version" ]; then
    epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
    printf 'titus-executor (%s) unstable; urgency=medium\n\n  * Build of commit %s.\n\n -- %s  %s\n\n' \
      "$version" "$commit" "$maintainer" "$(LC_ALL=C date -R -u -d "@$epoch")"
  fi
  cat debian/changelog
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc"/*

# --- control -----------------------------------------------------------------
install -d -m0755 "$root/DEBIAN"
install -m0644 debian/conffiles "$root/DEBIAN/conffiles"
install -m0755 debian/postinst debian/prerm debian/postrm "$root/DEBIAN/"
printf 'Source: titus-executor\n\nPackage: titus-executor\nArchitecture: amd64\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && find debian/titus-executor -type f \( -name node -o -name '*.node' \) -print0 |
  xargs -0 dpkg-shlibdeps -O --warnings=0 2>"$stage/shlibdeps.log") || { cat "$stage/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
shlibs=${shlibs#shlibs:Depends=}
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@SHLIBS_DEPENDS@/$shlibs/" debian/control >"$root/DEBIAN/control"
# md5sums of every file but the conffiles, as dh_md5sums writes it.
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/titus-executor_${version}_amd64.deb"
dpkg-deb --root-owner-group "${zopts[@]}" --build "$root" "$deb" >&2
log "built $deb ($(du -h "$deb" | cut -f1), commit $commit) in $((SECONDS - started)) s"
echo "$deb"
