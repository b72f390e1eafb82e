# The two commands the README opens with: `make demo` and `make test`.
# Everything they need is installed by the project's own scripts (.venv, npm ci).

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help test lint unit demo parity vectors bench build emulator clean infra-test preflight enable-stream

help:
	@echo "make demo [FORMAT=main]  run the suite end to end on the local emulator and print what it did (table format v0.1, the default, or main)"
	@echo "make test     the full test suite (fmt, clippy, unit, parity, integration)"
	@echo "make parity   print parity figures against the reference store's vectors"
	@echo "make vectors  regenerate the parity vectors from the reference package"
	@echo "make bench    benchmarks that print figures"
	@echo "make build    cargo-lambda release zips for each function"
	@echo "make infra-test               CDK app: npm ci, node tests, offline synth with cdk-nag, cfn-lint"
	@echo "make preflight TABLE=T [FUNCTION=F]  is table T ready for (or upgraded to) the functions? exit 1 if not"
	@echo "make enable-stream TABLE=T    turn on the NEW_AND_OLD_IMAGES stream of table T (idempotent)"

test: lint
	scripts/venv.sh emulator reference main
	.venv/bin/python scripts/bench/selftest_moto_bench.py
	.venv/bin/python scripts/moto_fixes.py --selftest
	# moto evaluates a PartiQL statement over every table it holds, so the PartiQL
	# test gets an emulator of its own; the rest share one (fresh table per test).
	scripts/emulator.sh run -- $(CARGO) test --locked -p mlflow-ddb-aws --test partiql
	# The migration's end-to-end tests run beside the rest, each group on its own emulator.
	CARGO=$(CARGO) scripts/test-endpoint.sh -- --skip expire_partiql_
	$(MAKE) --no-print-directory parity
	# The zips with the ci-lambda profile (Cargo.toml): the same cross build and packaging as
	# `make build`, without its LTO; `make build` makes the ones to deploy.
	BUILD_PROFILE=ci-lambda $(MAKE) --no-print-directory build
	LAMBDA_ASSETS=$(CURDIR)/target/lambda $(MAKE) --no-print-directory infra-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --lib --bins --locked

parity:
	$(CARGO) run --quiet --locked -p parity --bin parity-report

vectors:
	scripts/venv.sh reference main
	.venv/bin/python scripts/gen_vectors.py

demo:
	DEMO_FORMAT="$(or $(FORMAT),v0.1)" scripts/demo.sh

bench:
	scripts/bench.sh

build:
	scripts/build.sh

clean:
	$(CARGO) clean
	rm -rf .venv .cache

# The CDK app under infra/ (see infra/scripts/test.sh): needs Node; no AWS credentials, no Rust build.
infra-test:
	infra/scripts/test.sh

# Upgrade steps against a real table (AWS credentials from the usual environment).
preflight:
	@test -n "$(TABLE)" || { echo "usage: make preflight TABLE=<table> [FUNCTION=<materializer function>]" >&2; exit 2; }
	$(CARGO) run --quiet --locked -p preflight -- check --table "$(TABLE)" $(if $(FUNCTION),--function "$(FUNCTION)")

enable-stream:
	@test -n "$(TABLE)" || { echo "usage: make enable-stream TABLE=<table>" >&2; exit 2; }
	$(CARGO) run --quiet --locked -p preflight -- enable-stream --table "$(TABLE)"
