#!/usr/bin/env bash
# A LiveKit server on this machine for trying rooms without a LiveKit
# account: development mode, loopback only, key `devkey` and a secret made
# for this run (printed with the line to start the app with). Builds the
# server first if needed (scripts/setup.sh does it from its Go module).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(bash scripts/livekit-server.sh)"
PORT="${LIVEKIT_PORT:-7880}"
SECRET="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
CONFIG="$(mktemp)"
trap 'rm -f "$CONFIG"' EXIT
cat >"$CONFIG" <<YAML
port: $PORT
bind_addresses: [127.0.0.1]
rtc:
  tcp_port: $((PORT + 1))
  udp_port: $((PORT + 2))
  enable_loopback_candidate: true
  use_external_ip: false
keys:
  devkey: $SECRET
YAML
echo "LiveKit on ws://127.0.0.1:$PORT; Ctrl+C stops it. In another terminal:"
echo "  LIVEKIT_URL=ws://127.0.0.1:$PORT LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=$SECRET make run"
exec "$BIN" --dev --node-ip 127.0.0.1 --config "$CONFIG"
