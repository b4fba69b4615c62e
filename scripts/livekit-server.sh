#!/usr/bin/env bash
# Builds the LiveKit server from its Go module at a pinned tag (one without
# `replace` directives, which `go install` refuses), once, into a cache
# outside the clone; prints the binary's path. Used by scripts/setup.sh test
# (the room tests) and scripts/livekit-dev.sh.
set -euo pipefail
LIVEKIT_VERSION=v1.13.5
BIN="$HOME/.cache/switchboard/livekit/$LIVEKIT_VERSION/livekit-server"
if [ ! -x "$BIN" ]; then
  command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || { echo "livekit-server: go not found; install Go 1.26 first" >&2; exit 1; }
  echo "livekit-server: building $LIVEKIT_VERSION from its Go module (a few minutes)" >&2
  gobin="$(mktemp -d)"
  n=1
  until GOBIN="$gobin" go install "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION"; do
    if (( n >= 3 )); then echo "livekit-server: go install failed 3 times" >&2; exit 1; fi
    sleep $(( n * 5 )); n=$(( n + 1 ))
  done
  mkdir -p "$(dirname "$BIN")"
  mv "$gobin/server" "$BIN"
  rmdir "$gobin"
fi
echo "$BIN"
