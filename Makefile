# The two commands the README opens with: `make demo` and `make test`.
# Everything they need is installed by the project's own scripts (.venv, npm ci).

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help test lint unit demo parity vectors bench build emulator clean

help:
	@echo "make demo     run the suite end to end on the local emulator and print what it did"
	@echo "make test     the full test suite (fmt, clippy, unit, parity, integration)"
	@echo "make parity   print parity figures against the reference store's vectors"
	@echo "make vectors  regenerate the parity vectors from the reference package"
	@echo "make bench    benchmarks that print figures"
	@echo "make build    cargo-lambda release zips for each function"

test: lint
	scripts/emulator.sh run -- $(CARGO) test --workspace --all-targets --locked
	$(MAKE) --no-print-directory parity

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --lib --bins --locked

parity:
	$(CARGO) run --quiet --locked -p mlflow-ddb-core --bin parity-report

vectors:
	scripts/venv.sh reference
	.venv/bin/python scripts/gen_vectors.py

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

build:
	scripts/build.sh

clean:
	$(CARGO) clean
	rm -rf .venv .cache
