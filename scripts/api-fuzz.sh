#!/usr/bin/env bash
# API fuzzing of the real server with schemathesis (PyPI, pinned), from the
# server's own OpenAPI document:
#   1. with the token: every operation, examples, coverage, fuzzing and
#      stateful phases, every check (no 5xx, responses match the schema,
#      status codes documented, ...), a time limit per request (no hangs);
#      schema-mismatch warnings fail the run too;
#   2. without the token: every /api operation and /metrics answer 401.
# The two WebSocket routes (/api/events, /api/sessions/{id}/live) are left
# to the end-to-end tests: a plain GET is not an upgrade.
#   scripts/api-fuzz.sh 20      the short run of `make test` (examples per operation)
#   scripts/api-fuzz.sh 300     the long run of `make soak`
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${1:-20}"
# The stateful phase chains calls in an order that varies from run to run:
# `make soak` runs it; `make test` keeps to the reproducible phases.
PHASES="${API_FUZZ_PHASES:-examples,coverage,fuzzing,stateful}"
: "${CARGO_TARGET_DIR:=$HOME/.cache/switchboard/target}"
BIN="${SWITCHBOARD_BIN:-$CARGO_TARGET_DIR/debug/switchboard}"
ST_VERSION=4.32.5
VENV="$HOME/.cache/switchboard/st-venv"

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "api-fuzz: installing schemathesis $ST_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
[ -x "$BIN" ] || { echo "api-fuzz: $BIN not built (cargo test --workspace --no-run)" >&2; exit 1; }

WORK="$(mktemp -d)"
TOKEN="fuzz-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

env -u SWITCHBOARD_CONFIG SWITCHBOARD_API_TOKEN="$TOKEN" RUST_LOG=warn \
  "$BIN" serve --bind 127.0.0.1:0 --data-dir "$WORK/data" --llm-engine none >"$WORK/out" 2>"$WORK/log" &
SERVER_PID=$!
for _ in $(seq 1 600); do
  grep -q "Switchboard is running" "$WORK/out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "api-fuzz: the server died:"; cat "$WORK/log"; exit 1; }
  sleep 0.2
done
BASE="$(sed -n 's|.*open \(http://[^/]*\)/.*|\1|p' "$WORK/out" | head -1)"
[ -n "$BASE" ] || { echo "api-fuzz: no URL line"; cat "$WORK/out" "$WORK/log"; exit 1; }
echo "api-fuzz: server at $BASE, $EXAMPLES examples per operation"

curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/api/openapi.json" -o "$WORK/openapi.json"
# Four operations have rules JSON Schema does not state: across fields (the
# openai engine needs a base URL and a model; opening hours close after they
# open; a chosen cloud speech service needs a key, which the service itself
# must accept) or a grammar (crawl include/exclude globs must parse). They run
# without the "every schema-valid request is accepted" check, everything
# else with every check.
# Not fuzzed here: the local call and the device list depend on the
# machine's sound system (a server without one answers 503 by design), and
# schemathesis cannot generate the batch voice call's audio/wav bodies, and a
# generated model install would download gigabytes. Their bad input is tested
# in tests/tests/voice.rs, local_audio.rs and models.rs. The LiveKit routes
# answer 503 here by design (no LiveKit server is configured); they are
# tested against a real one in tests/tests/livekit.rs and livekit_agent.rs.
LIVEKIT_OPS=(--exclude-operation-id livekit_widget_token --exclude-operation-id generate_livekit_token
  --exclude-operation-id create_room --exclude-operation-id list_rooms
  --exclude-operation-id list_room_participants --exclude-operation-id delete_room
  --exclude-operation-id room_agent_join --exclude-operation-id room_agent_leave
  --exclude-operation-id room_agent_status --exclude-operation-id room_transcript
  --exclude-operation-id export_room_transcript --exclude-operation-id rename_room_speaker)
CROSS_FIELD=(--include-operation-id update_model_settings --include-operation-id update_business_profile
  --include-operation-id onboard --include-operation-id update_speech_settings)
status=0
run_st() {
  # NO_COLOR keeps the report greppable.
  NO_COLOR=1 "$VENV/bin/st" run "$WORK/openapi.json" --url "$BASE" \
    --header "Authorization: Bearer $TOKEN" \
    --phases "$PHASES" \
    --max-examples "$EXAMPLES" \
    --request-timeout 60 \
    --workers 2 \
    --generation-deterministic \
    "$@" >>"$WORK/st.txt" 2>&1
}
run_st --checks all --exclude-path-regex '/(events|live|stream)$' \
  --exclude-operation-id update_model_settings --exclude-operation-id update_business_profile \
  --exclude-operation-id onboard --exclude-operation-id update_speech_settings \
  --exclude-operation-id voice_process --exclude-operation-id update_livekit_settings \
  --exclude-operation-id start_local_call --exclude-operation-id audio_devices \
  --exclude-operation-id install_models "${LIVEKIT_OPS[@]}" || status=1
run_st --checks all --exclude-checks positive_data_acceptance "${CROSS_FIELD[@]}" || status=1
# The summary: operations, test cases, failures, warnings.
sed -n '/^=* *SUMMARY/,/^=* .* in [0-9.]*s =*$/p' "$WORK/st.txt" | grep -v '^$' | head -60
if grep -qi "mismatch" "$WORK/st.txt"; then
  echo "api-fuzz: schemathesis warned (see above)"
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "---- schemathesis failures ----"
  sed -n '/FAILURES/,/SUMMARY/p' "$WORK/st.txt" | head -200
fi

# Without the token: 401 from every operation the document says needs it.
if ! "$VENV/bin/python" - "$BASE" "$WORK/openapi.json" <<'PY'
import json, sys, urllib.request, urllib.error
base, path = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
default_security = spec.get("security", [])
checked, wrong = 0, []
for route, ops in spec["paths"].items():
    for method, op in ops.items():
        if method not in ("get", "post", "put", "delete", "patch"):
            continue
        security = op.get("security", default_security)
        if not security or security == [{}]:
            continue  # an open operation (/health)
        url = base + route
        for part in route.split("/"):
            if part.startswith("{"):
                url = url.replace(part, "00000000-0000-7000-8000-000000000000")
        data = b"{}" if method in ("post", "put", "patch") else None
        req = urllib.request.Request(url, data=data, method=method.upper(), headers={"content-type": "application/json"})
        try:
            code = urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as e:
            code = e.code
        checked += 1
        if code != 401:
            wrong.append(f"{method.upper()} {route}: {code}")
print(f"api-fuzz: without the token, {checked - len(wrong)} of {checked} protected operations answered 401")
for w in wrong:
    print("  not 401:", w)
sys.exit(1 if wrong else 0)
PY
then status=1; fi
exit "$status"
