#!/usr/bin/env bash
# Installs everything Switchboard needs on a fresh Debian 12 machine.
# Idempotent: installs only what is missing. Retries because registry
# downloads and concurrent apt runs fail transiently.
set -euo pipefail

retry() {
  local n=1
  until "$@"; do
    if (( n >= 3 )); then echo "setup: failed after 3 tries: $*" >&2; return 1; fi
    echo "setup: retrying ($n): $*" >&2
    sleep $(( n * 5 )); n=$(( n + 1 ))
  done
}

# Debian packages: a C toolchain for the bundled SQLite and tantivy's zstd.
DEBIAN_PACKAGES=(build-essential pkg-config ca-certificates curl)

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
# Crates: fetched once, with retries, so the build itself never waits on the network.
retry cargo fetch --locked -q
