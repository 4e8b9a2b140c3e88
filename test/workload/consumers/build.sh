#!/usr/bin/env bash
# Builds env-consumer (main.go): docker's and Compose's own env-file readers,
# from the Go module proxy, for the format tests. Cached by content: a second
# run with the same sources returns at once. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${KVPN_CONSUMERS_CACHE:-/var/tmp/kvpn-consumers}"
key=$(cd "$here" && cat go.mod go.sum main.go | sha256sum | cut -c1-16)
bin="$cache/bin-$key/env-consumer"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
[ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "env-consumer: go is not installed" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/partial-XXXXXX")
(cd "$here" && go build -trimpath -o "$tmp/env-consumer" .) >&2
mkdir -p "$(dirname "$bin")" && mv "$tmp/env-consumer" "$bin" && rmdir "$tmp"
echo "$bin"
