# Switchboard: `make run` starts the app, `make test` runs every test.
# Both install what they need first (scripts/setup.sh).

# Outside the clone, so a fresh checkout on the same machine reuses the build.
CARGO_TARGET_DIR ?= $(HOME)/.cache/switchboard/target
export CARGO_TARGET_DIR
DATA_DIR ?= $(HOME)/.local/share/switchboard
SERVER_BIN := $(CARGO_TARGET_DIR)/debug/switchboard
DESKTOP_BIN := $(CARGO_TARGET_DIR)/debug/switchboard-desktop

.PHONY: setup setup-test ui build run serve test test-bin test-rust test-ui test-browser test-audio test-desktop test-suite soak bench eval deb clean

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh test

## The web UI, built to ui/dist (served by both the HTTP server and the window).
ui: setup
	cd ui && npm run build

build: ui
	cargo build --locked -p switchboard-server -p switchboard-desktop -p switchboard-whisper

## The desktop app with the demo business; with no display it falls back to
## headless mode and prints the URL to open.
run: build
	SWITCHBOARD_DATA_DIR="$(DATA_DIR)" SWITCHBOARD_UI_DIR="$(CURDIR)/ui/dist" $(DESKTOP_BIN) --demo

## Headless mode explicitly.
serve: build
	$(SERVER_BIN) serve --demo --data-dir "$(DATA_DIR)" --ui-dir "$(CURDIR)/ui/dist"

## Every test: Rust unit/integration/end-to-end, UI unit, browser, desktop window.
test: setup-test
	$(MAKE) --no-print-directory ui
	$(MAKE) --no-print-directory test-rust test-ui test-browser test-audio test-desktop test-suite

test-rust:
	cargo test --locked --workspace --no-fail-fast
	@# The real-service tests again, with their output: each says whether it
	@# ran against the service or was skipped for want of a key.
	cargo test --locked -q -p switchboard-tests --test cloud_voice -- --nocapture 2>&1 | grep -E "skipped|heard|said|test result"

# The server binary as `cargo test --workspace` builds it (for its CLI tests):
# building it with `-p` instead would resolve other features and recompile
# shared dependencies.
test-bin:
	cargo test --locked --workspace --no-run -q

## UI: its API types still match the server's OpenAPI, type check, unit tests.
test-ui: test-bin
	$(SERVER_BIN) openapi > "$(CARGO_TARGET_DIR)/openapi.json"
	cd ui && OPENAPI_JSON="$(CARGO_TARGET_DIR)/openapi.json" node scripts/gen-api.mjs --check
	cd ui && npm run check && npm test

test-browser: test-bin
	SWITCHBOARD_BIN="$(SERVER_BIN)" node --test ui/e2e/

## Calls through the computer's microphone and speaker, on virtual devices:
## once plain, once with the speaker looped into the microphone (echo).
test-audio: test-bin
	bash scripts/virtual-audio.sh cargo test --locked --workspace --test local_audio -- --ignored a_test_call
	VIRTUAL_AUDIO_ECHO=1 bash scripts/virtual-audio.sh cargo test --locked --workspace --test local_audio -- --ignored echo

test-desktop:
	bash scripts/desktop-e2e.sh

## Reliability and security, short: kill -9 rounds, a 1-minute soak with
## the secrets scan, schemathesis, cargo-fuzz (scripts/suite.sh).
test-suite: test-bin
	SWITCHBOARD_BIN="$(SERVER_BIN)" bash scripts/suite.sh quick

## The same, long: 100 kill -9 rounds, a 30-minute soak, 10 minutes of
## fuzzing per parser (run nightly or by hand).
soak: setup-test test-bin
	SWITCHBOARD_BIN="$(SERVER_BIN)" bash scripts/suite.sh soak

## Benchmarks (release build); prints its figures.
bench: setup-test
	cargo bench --locked -p switchboard-tests --bench backbone
	cargo bench --locked -p switchboard-tests --bench agent
	cargo bench --locked -p switchboard-tests --bench crawl
	cargo bench --locked -p switchboard-tests --bench voice
	cargo bench --locked -p switchboard-tests --bench rooms
	cargo bench --locked -p switchboard-tests --bench search
	cargo bench --locked -p switchboard-tests --bench cloud

## The agent's evaluation: both businesses, every load (Q&A only, website
## only, both), development and held-out halves; prints a table.
eval: setup
	cargo test --locked -p switchboard-tests --test eval -- --ignored --nocapture evaluation_all_loads

## A Debian package of the desktop app, with the Whisper worker and the
## model installer beside it (Tauri wants them named for the target).
TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
deb: ui
	cargo build --locked -p switchboard-whisper -p switchboard-models
	mkdir -p src-tauri/binaries
	for b in switchboard-whisper switchboard-models; do \
	  cp "$(CARGO_TARGET_DIR)/debug/$$b" "src-tauri/binaries/$$b-$(TRIPLE)"; done
	TAURI_APP_PATH=src-tauri npx --yes @tauri-apps/cli@^2 build --debug --bundles deb --config src-tauri/tauri.bundle.json
	@ls "$(CARGO_TARGET_DIR)"/debug/bundle/deb/*.deb

clean:
	cargo clean
