# Entry points of the project. `make docker-compose-up` runs the system,
# `make test` checks everything (lint, unit, integration, end-to-end on Docker).

SHELL := /bin/sh
# The builder stage's Rust image, as pinned in the Dockerfiles (one place).
RUST_IMAGE := $(shell sed -n 's/^ARG RUST_IMAGE=//p' server/Dockerfile)

# Docker Compose: the v2 plugin where the machine has it, else docker-compose v1.
ifeq ($(origin COMPOSE), undefined)
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
endif
# The compose file has no `name:` (docker-compose v1 rejects it): the project
# name comes from here, so the network is always $(PROJECT)_testing_net.
PROJECT ?= tp0
COMPOSE_YAML ?= docker-compose-dev.yaml
DOCKER_COMPOSE = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_YAML)
BUSYBOX_IMAGE ?= docker.io/library/busybox:latest
# The compose flavours the end-to-end tests run under: each one installed.
E2E_COMPOSE_FLAVOURS = $(shell docker-compose version >/dev/null 2>&1 && echo v1) \
	$(shell docker compose version >/dev/null 2>&1 && echo v2)

.PHONY: lint test-rust test bench builder-image docker-image docker-compose-up \
	docker-compose-down docker-compose-logs busybox-image test-docker docker-timings

# The local multi-node swarm of `make cluster-up` (docs/swarm.md "Across several
# nodes"): its name (of its nodes, network and volumes), its shape, and where
# its state and manager sockets live (untracked).
CLUSTER ?= tp0-cluster
NODES ?= 3
MANAGERS ?= 1
CLUSTER_DIR ?= target/cluster
# Upper bound, in seconds, of each wait of cluster-up.
CLUSTER_WAIT ?= 60
# The official Docker-in-Docker image, pinned: Debian bookworm's docker.io
# version, which the local stand-in (scripts/node-image.sh) runs.
NODE_IMAGE ?= docker.io/library/docker:20.10.24-dind
# With DOCKER_HOST at the cluster's manager (what $(CLUSTER_DIR)/docker-host
# says, or any manager socket under $(CLUSTER_DIR), even once the cluster is
# gone), the images are still built by this machine's engine (where the
# builder image and the layer cache are), then loaded into every node, and
# the cluster-* targets talk to this machine's engine: HOST_ENGINE is what
# such a recipe line starts with.
CLUSTER_HOST := $(shell cat $(CLUSTER_DIR)/docker-host 2>/dev/null)
ifneq ($(filter $(CLUSTER_HOST) unix://$(abspath $(CLUSTER_DIR))/%,$(DOCKER_HOST)),)
ON_CLUSTER := 1
endif
HOST_ENGINE := $(if $(ON_CLUSTER),unset DOCKER_HOST;)

# Every shell script of the project, each in the dialect its first line names
# (POSIX sh for `#!/bin/sh`).
SHELL_SCRIPTS := $(shell git ls-files '*.sh' .ci)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	shellcheck $(SHELL_SCRIPTS)

test-rust:
	cargo test --locked

# End-to-end tests against the real Docker engine (see docker-e2e/), one at a
# time (they start containers and stop them with signals), once under each
# compose flavour the machine has; the Swarm, cluster and Podman tests
# (`swarm_*`, `cluster_*`, `podman_*`), which use no compose, run once.
test-docker: docker-image busybox-image
	@if [ -z "$(strip $(E2E_COMPOSE_FLAVOURS))" ]; then \
		echo "test-docker: neither docker-compose nor docker compose is installed" >&2; exit 1; \
	fi
	@skip=""; for flavour in $(E2E_COMPOSE_FLAVOURS); do \
		case $$flavour in v1) compose=docker-compose ;; v2) compose='docker compose' ;; esac; \
		echo "test-docker: end-to-end tests under $$compose"; \
		COMPOSE="$$compose" cargo test --locked -p docker-e2e -- --test-threads=1 $$skip || exit 1; \
		skip="--skip swarm_ --skip podman_ --skip cluster_"; \
	done

test: lint test-rust test-docker

# The pinned Rust image of the Dockerfiles' builder stage: present, else
# pulled, else a local stand-in made from Debian's packages and this
# machine's toolchain (see scripts/builder-image.sh).
builder-image:
	@$(HOST_ENGINE) sh scripts/builder-image.sh $(RUST_IMAGE)

# Exactly the commands a user or a grader runs: both images build from
# source inside Docker; the second reuses the first one's builder layers.
# With DOCKER_HOST at the cluster, they are built here and loaded into every
# node (scripts/cluster-load.sh).
docker-image: builder-image
	$(HOST_ENGINE) docker build -f ./server/Dockerfile -t server:latest .
	$(HOST_ENGINE) docker build -f ./client/Dockerfile -t client:latest .
ifdef ON_CLUSTER
	@$(HOST_ENGINE) CLUSTER=$(CLUSTER) sh scripts/cluster-load.sh
endif

docker-compose-up: docker-image
	$(DOCKER_COMPOSE) up -d

# One second of grace: both programs shut down well within it.
docker-compose-down:
	$(DOCKER_COMPOSE) stop -t 1
	$(DOCKER_COMPOSE) down

docker-compose-logs:
	$(DOCKER_COMPOSE) logs -f

# Image build and start-up times (docs/docker.md), measured on a
# copy of the tree so the working tree is never touched.
docker-timings: builder-image
	@sh scripts/docker-timings.sh

# The netcat image of validar-echo-server.sh: present, else pulled, else a
# local stand-in made from Debian's busybox-static (see scripts/busybox-image.sh).
busybox-image:
	@sh scripts/busybox-image.sh $(BUSYBOX_IMAGE)

# Benchmarks (docs/performance.md): release builds, then the harness.
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

# --- Docker Swarm (docs/swarm.md): the same images as a stack. ---
# The stack's name, its replicas, and where its file and configs are staged
# (untracked): the stack file sits beside copies of server/config.ini and
# client/config.yaml, which it names by their content.
STACK ?= tp0
SERVERS ?= 2
CLIENTS ?= 1
SWARM_DIR ?= target/swarm
SWARM_ADVERTISE_ADDR ?= 127.0.0.1
# Upper bound, in seconds, of each wait for the swarm to converge.
SWARM_WAIT ?= 120
COMPOSE_GEN_IMAGE ?= tp0-compose-gen:latest
# Placement constraints of the server's and the clients' tasks (a swarm of
# several nodes: `SERVER_CONSTRAINT='node.role == worker'`); none by default.
SERVER_CONSTRAINT ?=
CLIENT_CONSTRAINT ?=
# Written by swarm-up when it made the engine a swarm: the node id, and
# whether docker_gwbridge was new. swarm-down leaves only that swarm.
SWARM_MARK = $(SWARM_DIR)/created-swarm

.PHONY: swarm-up swarm-down swarm-logs swarm-roll swarm-scale

# Builds the images, then scripts/swarm-up.sh: a single-node swarm if the
# engine is in none, the stack written and deployed, and a wait until the
# server's replicas run.
swarm-up: docker-image
	@STACK=$(STACK) SERVERS=$(SERVERS) CLIENTS=$(CLIENTS) SWARM_DIR=$(SWARM_DIR) \
		SWARM_ADVERTISE_ADDR=$(SWARM_ADVERTISE_ADDR) SWARM_WAIT=$(SWARM_WAIT) \
		COMPOSE_GEN_IMAGE=$(COMPOSE_GEN_IMAGE) SWARM_MARK=$(SWARM_MARK) \
		SERVER_CONSTRAINT='$(SERVER_CONSTRAINT)' CLIENT_CONSTRAINT='$(CLIENT_CONSTRAINT)' \
		GENERATOR_ON_HOST=$(ON_CLUSTER) sh scripts/swarm-up.sh

# Every service of the stack, followed (task names in front of each line).
swarm-logs:
	@services=$$(docker stack services --format '{{.Name}}' $(STACK)); \
	if [ -z "$$services" ]; then echo "swarm-logs: no stack $(STACK)" >&2; exit 1; fi; \
	for service in $$services; do docker service logs -f $$service & done; \
	wait

# A rolling update of the server (the update_config of the stack: start-first,
# one task at a time), also what picks up a rebuilt server:latest by hand.
# `docker service update` returns when the service has converged.
swarm-roll:
	docker service update --force --detach=false --quiet $(STACK)_server

swarm-scale:
	docker service scale --detach=false $(STACK)_server=$(SERVERS)

# scripts/swarm-down.sh: the stack removed and waited for; the swarm left
# only if swarm-up made it and nothing else runs on it.
swarm-down:
	@STACK=$(STACK) SWARM_WAIT=$(SWARM_WAIT) SWARM_MARK=$(SWARM_MARK) sh scripts/swarm-down.sh

# --- A local multi-node swarm (docs/swarm.md "Across several nodes"). ---

.PHONY: node-image cluster-up cluster-down

# The image of the nodes: the pinned official Docker-in-Docker image where
# this engine runs it privileged, else a local stand-in made from Debian's
# packages (see scripts/node-image.sh).
node-image:
	@$(HOST_ENGINE) CLUSTER_DIR=$(CLUSTER_DIR) sh scripts/node-image.sh $(NODE_IMAGE)

# NODES engines in containers, MANAGERS of them managers, one swarm, the
# images in every node; DOCKER_HOST=$$(cat $(CLUSTER_DIR)/docker-host) then
# points the swarm-* targets at it (see scripts/cluster-up.sh).
cluster-up: docker-image
	@$(HOST_ENGINE) CLUSTER=$(CLUSTER) NODES=$(NODES) MANAGERS=$(MANAGERS) CLUSTER_DIR=$(CLUSTER_DIR) \
		CLUSTER_WAIT=$(CLUSTER_WAIT) NODE_IMAGE=$(NODE_IMAGE) sh scripts/cluster-up.sh

# The nodes, their volumes, network and cgroup directories, and $(CLUSTER_DIR),
# whatever state they are in.
cluster-down:
	@$(HOST_ENGINE) CLUSTER=$(CLUSTER) CLUSTER_DIR=$(CLUSTER_DIR) sh scripts/cluster-down.sh
