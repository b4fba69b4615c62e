# Switchboard: `make run` starts the app, `make test` runs every test.
# Both install what they need first (scripts/setup.sh).

# Outside the clone, so a fresh checkout on the same machine reuses the build.
CARGO_TARGET_DIR ?= $(HOME)/.cache/switchboard/target
export CARGO_TARGET_DIR
DATA_DIR ?= $(HOME)/.local/share/switchboard
BIN := $(CARGO_TARGET_DIR)/debug/switchboard

.PHONY: setup build run test bench clean

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --locked -p switchboard-server --bin switchboard

## Run the app on its embedded defaults (SQLite + tantivy in DATA_DIR), with the demo business.
run: build
	$(BIN) serve --demo --data-dir "$(DATA_DIR)"

## Every test: unit, integration, end to end.
test: setup
	cargo test --locked --workspace --no-fail-fast

## Benchmarks (release build); prints its figures.
bench: setup
	cargo bench --locked -p switchboard-tests --bench backbone

clean:
	cargo clean
