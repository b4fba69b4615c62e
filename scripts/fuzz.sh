#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 20) and prints
# what each did. A crash, panic, hang (over 10 s on one input) or runaway
# memory fails the script and leaves the input under fuzz/artifacts/.
#   scripts/fuzz.sh 20      the short run of `make test`
#   scripts/fuzz.sh 600     the long run of `make soak`
# cargo-fuzz needs a nightly compiler; the machine image has one (rustup's
# `nightly` toolchain). The corpus grows across runs outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
: "${CARGO_TARGET_DIR:=$HOME/.cache/switchboard/target}"
CORPUS_ROOT="${FUZZ_CORPUS:-$HOME/.cache/switchboard/fuzz-corpus}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain (rustup toolchain list); cargo-fuzz needs one" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --version '^0.13' --locked -q
fi

FUZZ_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
echo "fuzz: building the targets (nightly, AddressSanitizer)"
cargo +nightly fuzz build --fuzz-dir fuzz --target-dir "$FUZZ_TARGET_DIR" -O --debug-assertions

status=0
printf '%-12s %10s %10s %8s  %s\n' target runs "exec/s" corpus result
for t in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
  corpus="$CORPUS_ROOT/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
  log="$(mktemp)"
  if cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$FUZZ_TARGET_DIR" -O --debug-assertions "$t" \
      "$corpus" "${seeds[@]}" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  speed="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  size="$(find "$corpus" -type f | wc -l)"
  printf '%-12s %10s %10s %8s  %s\n' "$t" "$runs" "$speed" "$size" "$result"
  if [ "$result" = FAILED ]; then
    echo "---- $t: last lines of its log ----"
    tail -n 40 "$log"
  fi
  rm -f "$log"
done
exit "$status"
