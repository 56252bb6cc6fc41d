# Entry points of the project. `make docker-compose-up` runs the system,
# `make test` checks everything (lint, unit, integration, end-to-end on Docker).

SHELL := /bin/sh
# Static binaries need an explicit target so build scripts and proc-macros
# stay dynamic; derive it from the host so arm64 works as well as x86_64.
TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')
RELEASE_DIR := target/$(TARGET)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static

# Docker Compose: the v2 plugin where the machine has it, else docker-compose v1.
ifeq ($(origin COMPOSE), undefined)
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
endif
# The compose file has no `name:` (docker-compose v1 rejects it): the project
# name comes from here, so the network is always $(PROJECT)_testing_net.
PROJECT ?= tp0
COMPOSE_YAML ?= docker-compose-dev.yaml
DOCKER_COMPOSE = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_YAML)
# Where the Dockerfiles find the static binaries (no target triple in them).
STAGE_DIR := target/docker
BUSYBOX_IMAGE ?= busybox:latest

.PHONY: build lint test-rust test bench docker-image docker-compose-up \
	docker-compose-down docker-compose-logs busybox-image test-docker

build:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" cargo build --release --locked --target $(TARGET) -p server -p client

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-rust:
	cargo test --locked

# End-to-end tests against the real Docker engine (see docker-e2e/), one at a
# time: they start containers and stop them with signals.
test-docker: docker-image busybox-image
	cargo test --locked -p docker-e2e -- --test-threads=1

test: lint test-rust test-docker

docker-image: build
	mkdir -p $(STAGE_DIR)
	cp $(RELEASE_DIR)/server $(RELEASE_DIR)/client $(STAGE_DIR)/
	docker build -f ./server/Dockerfile -t server:latest .
	docker build -f ./client/Dockerfile -t client:latest .

docker-compose-up: docker-image
	$(DOCKER_COMPOSE) up -d

# One second of grace: both programs shut down well within it.
docker-compose-down:
	$(DOCKER_COMPOSE) stop -t 1
	$(DOCKER_COMPOSE) down

docker-compose-logs:
	$(DOCKER_COMPOSE) logs -f

# No registry is reachable, so the netcat image for validar-echo-server.sh is
# made locally when missing: Debian's static busybox in an empty image.
busybox-image:
	@if docker image inspect $(BUSYBOX_IMAGE) >/dev/null 2>&1; then \
		echo "$(BUSYBOX_IMAGE) is present"; \
	else \
		set -e; \
		if [ ! -x /bin/busybox ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static; \
		fi; \
		if ldd /bin/busybox >/dev/null 2>&1; then \
			echo "/bin/busybox is dynamically linked; install Debian's busybox-static" >&2; \
			exit 1; \
		fi; \
		dir=$$(mktemp -d); \
		trap 'rm -rf "$$dir"' EXIT; \
		cp /bin/busybox "$$dir/busybox"; \
		printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
			'RUN ["/bin/busybox", "--install", "-s", "/bin"]' \
			'ENV PATH=/bin' 'CMD ["sh"]' >"$$dir/Dockerfile"; \
		docker build -t $(BUSYBOX_IMAGE) "$$dir"; \
	fi

# Benchmarks (see README "Performance"): release builds, then the harness.
# As root it runs in a network namespace of its own: a fresh loopback with no
# connection tracking, so the host's conntrack table (which Docker's rules
# enable) neither fills up with a run's TIME_WAIT entries nor drops packets.
bench:
	cargo build --release --locked -p server -p client -p bench
	@if [ "$$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then \
		unshare --net sh -c 'ip link set lo up && exec ./target/release/bench $(BENCH_ARGS)'; \
	else \
		echo "bench: not root, running on the host's loopback" >&2; \
		./target/release/bench $(BENCH_ARGS); \
	fi
