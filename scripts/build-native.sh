#!/usr/bin/env bash
# Builds the native parts of the packet filter (docs/ebpf.md), each only when
# its toolchain is here:
#
#   build/bpf/filter.o          the eBPF program (clang -target bpf, libbpf headers)
#   build/native/titus_bpf.node the node-addon-api addon (node-gyp, g++, libbpf-dev)
#
# A missing toolchain prints a notice and is not an error: the executor then
# uses the tc fallback (no addon) or, without the object, refuses networked
# tasks unless packetFilter.allowUnfiltered is set. A compile error with the
# toolchain present is an error. scripts/setup.sh installs the toolchain.
#
#   scripts/build-native.sh [bpf|addon|all] [--force]   (default all)
#
# An output newer than all its inputs is kept (--force or FORCE=1 rebuilds).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
what=all
force=${FORCE:-0}
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    bpf|addon|all) what=$arg ;;
    *) echo "usage: $0 [bpf|addon|all] [--force]" >&2; exit 64 ;;
  esac
done

notice() { echo "build-native: $*" >&2; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
# up_to_date OUT INPUT…: OUT exists and is newer than every INPUT.
up_to_date() {
  local out=$1 input
  shift
  [ "$force" = 1 ] && return 1
  [ -f "$out" ] || return 1
  for input in "$@"; do [ "$out" -nt "$input" ] || return 1; done
}

build_bpf() {
  local src=src/vpc/bpf/filter.c out=build/bpf/filter.o
  if ! have_cmd clang; then
    notice "clang not found: eBPF object not built (install clang and libbpf-dev: bash scripts/setup.sh)"
    return 0
  fi
  if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
    notice "libbpf headers not found: eBPF object not built (install libbpf-dev: bash scripts/setup.sh)"
    return 0
  fi
  if up_to_date "$out" "$src" scripts/build-native.sh; then
    notice "$out is up to date"
    return 0
  fi
  local multiarch
  multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
  mkdir -p build/bpf
  local started=$SECONDS
  # -g: libbpf needs the BTF of the .maps section. The prefix maps keep the
  # absolute checkout path out of the object, so the same sources give the
  # same bytes anywhere.
  clang -O2 -g -target bpf -Wall -Werror \
    -I "/usr/include/$multiarch" \
    -fdebug-prefix-map="$repo"=. -fdebug-compilation-dir=. \
    -c "$src" -o "$out.tmp"
  mv "$out.tmp" "$out"
  notice "built $out ($(sha256sum "$out" | cut -c1-16), $((SECONDS - started)) s)"
}

build_addon() {
  local out=build/native/titus_bpf.node
  local missing=()
  have_cmd g++ || missing+=("g++")
  have_cmd make || missing+=("make")
  have_cmd python3 || missing+=("python3")
  [ -f /usr/include/node/node_api.h ] || missing+=("Node.js headers in /usr/include/node")
  [ -f /usr/include/bpf/libbpf.h ] || missing+=("libbpf-dev")
  [ -x node_modules/.bin/node-gyp ] || missing+=("node-gyp (npm ci)")
  [ -d node_modules/node-addon-api ] || missing+=("node-addon-api (npm ci)")
  if [ "${#missing[@]}" -gt 0 ]; then
    notice "addon not built, missing: ${missing[*]}; the packet filter will use the tc fallback"
    return 0
  fi
  if up_to_date "$out" native/titus_bpf.cc native/binding.gyp scripts/build-native.sh node_modules/node-addon-api/package.json; then
    notice "$out is up to date"
    return 0
  fi
  local started=$SECONDS
  # --nodedir=/usr: Debian's Node.js headers; node-gyp would otherwise try to download them.
  (cd native && ../node_modules/.bin/node-gyp rebuild --nodedir=/usr --loglevel=warn >&2)
  mkdir -p build/native
  install -m0644 native/build/Release/titus_bpf.node "$out.tmp"
  mv "$out.tmp" "$out"
  notice "built $out ($((SECONDS - started)) s)"
}

case "$what" in
  bpf) build_bpf ;;
  addon) build_addon ;;
  all) build_bpf; build_addon ;;
esac
