#!/usr/bin/env bash
# The desktop end-to-end test (src-tauri/tests/desktop.rs) in a virtual X
# display (Xvfb) with its own D-Bus session and a notification daemon (dunst)
# that prints every notification to $DUNST_LOG, which the test reads.
#
# Needs: xvfb xauth dbus dbus-x11 dunst webkit2gtk-driver (Debian) and
# `cargo install tauri-driver --version '^2' --locked`.
# Extra arguments go to the test binary (after --ignored --test-threads=1).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SWITCHBOARD_E2E_INSIDE:-}" ]; then
  missing=()
  for tool in xvfb-run dbus-run-session dunst dunstctl /usr/bin/WebKitWebDriver; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  command -v tauri-driver >/dev/null || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ] || missing+=(tauri-driver)
  if (( ${#missing[@]} )); then
    echo "desktop-e2e: missing ${missing[*]}: run scripts/setup.sh (Debian: xvfb xauth dbus dbus-x11 dunst webkit2gtk-driver; cargo install tauri-driver --version '^2' --locked)" >&2
    exit 1
  fi
  # Compile first, outside the virtual display. `--workspace` keeps the
  # feature resolution of `cargo test --workspace`, so nothing recompiles.
  cargo test --locked --workspace --test desktop --no-run
  export SWITCHBOARD_E2E_INSIDE=1
  exec xvfb-run -a -s "-screen 0 1280x1024x24" dbus-run-session -- bash "$0" "$@"
fi

# Inside Xvfb and the D-Bus session.
DUNST_LOG="$(mktemp -t switchboard-dunst.XXXXXX.log)"
export DUNST_LOG
# Line-buffered, so the test sees each notification as it arrives.
stdbuf -oL dunst -print >"$DUNST_LOG" 2>&1 &
dunst_pid=$!
trap 'kill "$dunst_pid" 2>/dev/null || true; wait "$dunst_pid" 2>/dev/null || true; rm -f "$DUNST_LOG"' EXIT
# Wait until dunst owns the notification service (asking the bus, not the
# service: a call to the service would start a second, non-printing dunst).
for _ in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null | grep -q true && break
  sleep 0.1
done
cargo test --locked --workspace --test desktop -- --ignored --test-threads=1 "$@"
