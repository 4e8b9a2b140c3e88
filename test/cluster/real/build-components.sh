#!/usr/bin/env bash
# Builds the real test world's Kubernetes v1.34 components (one `kube` binary
# for apiserver, controller-manager, scheduler, proxy and kubelet; etcd;
# CoreDNS) from the Go module proxy. Cached by the module's content: a second
# run with the same go.mod/go.sum/sources returns at once.
# Usage: build-components.sh [CACHE_DIR]   prints the bin directory.
set -euo pipefail
here="$(cd "$(dirname "$0")/components" && pwd)"
cache="${1:-${KVPN_REAL_CACHE:-/var/tmp/kvpn-real}}"
key=$(cd "$here" && cat go.mod go.sum $(find cmd -name '*.go' | sort) | sha256sum | cut -c1-16)
bin="$cache/bin-$key"
if [ -x "$bin/kube" ] && [ -x "$bin/etcd" ] && [ -x "$bin/coredns" ]; then echo "$bin"; exit 0; fi
# Asked only whether they are built (tests): exit 3 when they are not.
[ -n "${KVPN_REAL_NO_BUILD:-}" ] && { echo "not built: $bin" >&2; exit 3; }
[ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "build-components: go is not installed" >&2; exit 1; }
version=$(sed -nE 's/^\tk8s\.io\/kubernetes (v[0-9.]+)$/\1/p' "$here/go.mod" | head -1)
tmp="$cache/bin-$key.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
cd "$here"
# -p 1 link steps would be slow; the compile is CPU-bound anyway on 2 cores.
go build -trimpath -ldflags "-s -w \
  -X k8s.io/component-base/version.gitVersion=$version \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=34 \
  -X k8s.io/component-base/version.gitTreeState=clean" \
  -o "$tmp/" ./cmd/... >&2
mv "$tmp" "$bin"
echo "$bin"
