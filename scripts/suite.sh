#!/usr/bin/env bash
# The reliability and security suite; every part prints its figures.
#   scripts/suite.sh quick   part of `make test` (about 10 minutes)
#   scripts/suite.sh soak    `make soak`: the long version (about 2 hours)
# Parts: kill -9 rounds under load (tests/tests/crash.rs), 50 sessions soaked
# with a secrets scan (tests/tests/soak.rs), schemathesis against the
# OpenAPI document (scripts/api-fuzz.sh), cargo-fuzz over the parsers
# (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-quick}"
case "$MODE" in
  quick) ROUNDS="${ROUNDS:-20}"; SOAK_SECS="${SOAK_SECS:-60}"; FUZZ_SECS=15; API_EXAMPLES=20
    export API_FUZZ_PHASES=examples,coverage,fuzzing ;;
  soak) ROUNDS="${ROUNDS:-100}"; SOAK_SECS="${SOAK_SECS:-1800}"; FUZZ_SECS=600; API_EXAMPLES=300 ;;
  *) echo "usage: scripts/suite.sh quick|soak" >&2; exit 2 ;;
esac
export ROUNDS SOAK_SECS

# `--workspace` so features resolve as in `cargo test --workspace` (no rebuild);
# `--no-run` first builds the server binary the suites start.
cargo test --locked --workspace --no-run -q
echo "== crash safety: $ROUNDS rounds of kill -9"
cargo test --locked --workspace --test crash -- --ignored --nocapture
echo "== soak: 50 sessions for ${SOAK_SECS}s, then the secrets scan"
cargo test --locked --workspace --test soak -- --ignored --nocapture
echo "== API fuzzing (schemathesis)"
bash scripts/api-fuzz.sh "$API_EXAMPLES"
echo "== parser fuzzing (cargo-fuzz, ${FUZZ_SECS}s per target)"
bash scripts/fuzz.sh "$FUZZ_SECS"
