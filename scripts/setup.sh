#!/usr/bin/env bash
# Installs what the project needs on a Debian 12 host, idempotently: the Docker
# engine (Debian's docker.io), Debian's docker-registry and busybox-static for the
# test images, host networking tools, and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

have_pkg docker.io || need_pkgs+=(docker.io)
have_pkg docker-registry || need_pkgs+=(docker-registry)
have_pkg busybox-static || need_pkgs+=(busybox-static)
have_cmd ip || need_pkgs+=(iproute2)
have_cmd nft || need_pkgs+=(nftables)
have_cmd dpkg-shlibdeps || need_pkgs+=(dpkg-dev)
have_cmd strip || need_pkgs+=(binutils)
have_cmd lintian || need_pkgs+=(lintian)
have_cmd debootstrap || need_pkgs+=(debootstrap)
# The packet filter (docs/ebpf.md): clang compiles the eBPF object, libbpf-dev
# gives its headers and the addon's library, bpftool fills maps on the tc fallback.
have_cmd clang || need_pkgs+=(clang)
have_pkg libbpf-dev || need_pkgs+=(libbpf-dev)
have_cmd bpftool || need_pkgs+=(bpftool)
# htpasswd -B (bcrypt) for the test registry that requires basic auth (test/harness/auth-registry.ts).
have_cmd htpasswd || need_pkgs+=(apache2-utils)
# Disk quota tests (docs/disk-quota.md): the harness makes loop-mounted xfs and btrfs data roots.
have_pkg xfsprogs || need_pkgs+=(xfsprogs)
have_pkg btrfs-progs || need_pkgs+=(btrfs-progs)
# EFS/NFS volumes (docs/volumes.md): mount.nfs4, which the executor's `mount -t nfs4` runs.
have_pkg nfs-common || need_pkgs+=(nfs-common)

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${need_pkgs[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "setup: installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
  # Debian's docker.io pulls in containerd; neither must run as a system service
  # for the tests, which start their own engine.
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
