#!/usr/bin/env bash
# Compiles Postern's BPF TPROXY program. Called by Maven (exec-maven-plugin, generate-resources):
#   build-bpf.sh SOURCE.bpf.c OUTPUT.bpf.o
# Needs clang (any version with the BPF target) and the libbpf headers (Debian: clang, libbpf-dev);
# .ci/install-deps installs both.
set -euo pipefail
src="$1"
out="$2"
if ! command -v clang >/dev/null 2>&1; then
  echo "tproxy-bpf: clang is not installed, so the BPF program ${src##*/} cannot be built." >&2
  echo "tproxy-bpf: install it with .ci/install-deps (or: apt-get install clang libbpf-dev)." >&2
  exit 1
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "tproxy-bpf: /usr/include/bpf/bpf_helpers.h is missing (libbpf headers), so ${src##*/} cannot be built." >&2
  echo "tproxy-bpf: install them with .ci/install-deps (or: apt-get install libbpf-dev)." >&2
  exit 1
fi
if ! clang -print-targets 2>/dev/null | grep -qw bpf; then
  echo "tproxy-bpf: $(command -v clang) has no BPF target; install a clang built with it (Debian's clang has it)." >&2
  exit 1
fi
# <asm/types.h> and friends live in the multiarch include directory on Debian.
multiarch="$(uname -m)-linux-gnu"
mkdir -p "$(dirname "$out")"
clang -O2 -g -Wall -Werror -target bpf -I"/usr/include/${multiarch}" -c "$src" -o "$out.tmp"
mv -f "$out.tmp" "$out"
echo "tproxy-bpf: built ${out##*/} ($(stat -c %s "$out") bytes) with $(clang --version | head -n 1)"
