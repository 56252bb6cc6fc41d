# Entry points of the project. `make docker-compose-up` runs the system,
# `make test` checks everything (lint, unit, integration, end-to-end on Docker).

SHELL := /bin/sh
# The builder stage's Rust image, as pinned in the Dockerfiles (one place).
RUST_IMAGE := $(shell sed -n 's/^ARG RUST_IMAGE=//p' server/Dockerfile)

# Docker Compose: the v2 plugin where the machine has it, else docker-compose v1.
ifeq ($(origin COMPOSE), undefined)
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
endif
# The compose file has no `name:` (docker-compose v1 rejects it): the project
# name comes from here, so the network is always $(PROJECT)_testing_net.
PROJECT ?= tp0
COMPOSE_YAML ?= docker-compose-dev.yaml
DOCKER_COMPOSE = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_YAML)
BUSYBOX_IMAGE ?= busybox:latest
# The compose flavours the end-to-end tests run under: each one installed.
E2E_COMPOSE_FLAVOURS := $(shell docker-compose version >/dev/null 2>&1 && echo v1) \
	$(shell docker compose version >/dev/null 2>&1 && echo v2)

.PHONY: lint test-rust test bench builder-image docker-image docker-compose-up \
	docker-compose-down docker-compose-logs busybox-image test-docker docker-timings

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-rust:
	cargo test --locked

# End-to-end tests against the real Docker engine (see docker-e2e/), one at a
# time (they start containers and stop them with signals), once under each
# compose flavour the machine has; the Swarm tests (`swarm_*`), which use no
# compose, run once.
test-docker: docker-image busybox-image
	@if [ -z "$(strip $(E2E_COMPOSE_FLAVOURS))" ]; then \
		echo "test-docker: neither docker-compose nor docker compose is installed" >&2; exit 1; \
	fi
	@skip=""; for flavour in $(E2E_COMPOSE_FLAVOURS); do \
		case $$flavour in v1) compose=docker-compose ;; v2) compose='docker compose' ;; esac; \
		echo "test-docker: end-to-end tests under $$compose"; \
		COMPOSE="$$compose" cargo test --locked -p docker-e2e -- --test-threads=1 $$skip || exit 1; \
		skip="--skip swarm_"; \
	done

test: lint test-rust test-docker

# The pinned Rust image of the Dockerfiles' builder stage: present, else
# pulled, else a local stand-in made from Debian's packages and this
# machine's toolchain (see scripts/builder-image.sh).
builder-image:
	@sh scripts/builder-image.sh $(RUST_IMAGE)

# Exactly the commands a user or a grader runs: both images build from
# source inside Docker; the second reuses the first one's builder layers.
docker-image: builder-image
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

# Image build and start-up times (README "Docker workflow"), measured on a
# copy of the tree so the working tree is never touched.
docker-timings: builder-image
	@sh scripts/docker-timings.sh

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

# --- Docker Swarm (README "Docker Swarm"): the same images as a stack. ---
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
# Written by swarm-up when it made the engine a swarm: the node id, and
# whether docker_gwbridge was new. swarm-down leaves only that swarm.
SWARM_MARK = $(SWARM_DIR)/created-swarm

.PHONY: swarm-up swarm-down swarm-logs swarm-roll swarm-scale

# Joins a single-node swarm made here if the engine is in none, builds the
# images, tags them by image id (so a rebuild is a new image for Swarm to roll
# to, and a rollback has the old one), writes the stack and deploys it. A
# changed config is a new Swarm config name, so deploying rolls the service.
# Returns once the server's replicas run and no update is in progress.
swarm-up: docker-image
	@set -e; \
	state=$$(docker info -f '{{.Swarm.LocalNodeState}}'); \
	mkdir -p $(SWARM_DIR)/server $(SWARM_DIR)/client; \
	case $$state in \
	inactive) \
		gw=$$(docker network inspect docker_gwbridge >/dev/null 2>&1 && echo kept || echo created); \
		docker swarm init --advertise-addr $(SWARM_ADVERTISE_ADDR) >/dev/null; \
		echo "$$(docker info -f '{{.Swarm.NodeID}}') $$gw" >$(SWARM_MARK); \
		echo "swarm-up: made this engine a single-node swarm; swarm-down leaves it again" ;; \
	active) \
		if [ "$$(docker info -f '{{.Swarm.ControlAvailable}}')" != true ]; then \
			echo "swarm-up: this node is a swarm worker: deploy from a manager" >&2; exit 1; \
		fi; \
		echo "swarm-up: using the swarm this engine is in" ;; \
	*) echo "swarm-up: the engine's swarm state is '$$state'; cannot deploy" >&2; exit 1 ;; \
	esac; \
	cp server/config.ini $(SWARM_DIR)/server/config.ini; \
	cp client/config.yaml $(SWARM_DIR)/client/config.yaml; \
	sid=$$(docker image inspect -f '{{.Id}}' server:latest | sed 's/^sha256://' | cut -c1-12); \
	cid=$$(docker image inspect -f '{{.Id}}' client:latest | sed 's/^sha256://' | cut -c1-12); \
	docker tag server:latest server:swarm-$$sid; \
	docker tag client:latest client:swarm-$$cid; \
	if ! out=$$(docker build -q -f compose-gen/Dockerfile -t $(COMPOSE_GEN_IMAGE) . 2>&1); then \
		echo "$$out" >&2; exit 1; \
	fi; \
	dir=$$(cd $(SWARM_DIR) && pwd); \
	docker run --rm --network none --user "$$(id -u):$$(id -g)" -v "$$dir:$$dir" -w "$$dir" \
		$(COMPOSE_GEN_IMAGE) --swarm --servers $(SERVERS) --server-image server:swarm-$$sid \
		--client-image client:swarm-$$cid docker-stack.yaml $(CLIENTS); \
	docker stack deploy --prune --resolve-image never -c $(SWARM_DIR)/docker-stack.yaml $(STACK); \
	i=0; \
	while :; do \
		want=$$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' $(STACK)_server); \
		have=$$(docker service ps -f desired-state=running --format '{{.CurrentState}}' $(STACK)_server | grep -c '^Running' || true); \
		update=$$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' $(STACK)_server); \
		case $$update in \
		rollback_*|paused) echo "swarm-up: the server's update failed ($$update): $$(docker service inspect -f '{{.UpdateStatus.Message}}' $(STACK)_server)" >&2; exit 1 ;; \
		updating) ;; \
		*) if [ "$$have" = "$$want" ]; then break; fi ;; \
		esac; \
		i=$$((i + 1)); \
		if [ $$i -gt $$(($(SWARM_WAIT) * 5)) ]; then \
			echo "swarm-up: $(STACK)_server has $$have of $$want replicas running after $(SWARM_WAIT) s" >&2; exit 1; \
		fi; \
		sleep 0.2; \
	done; \
	echo "swarm-up: stack $(STACK) deployed: $$want server replica(s) running"

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

# Removes the stack and waits until its containers and network are gone;
# leaves the swarm only if swarm-up made it and nothing else runs on it.
swarm-down:
	@set -e; \
	if [ "$$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then \
		echo "swarm-down: the engine is in no swarm"; rm -f $(SWARM_MARK); exit 0; \
	fi; \
	if docker stack ls --format '{{.Name}}' | grep -qx '$(STACK)'; then docker stack rm $(STACK); fi; \
	i=0; \
	while [ -n "$$(docker ps -aq -f label=com.docker.stack.namespace=$(STACK))" ] \
		|| docker network inspect $(STACK)_testing_net >/dev/null 2>&1; do \
		i=$$((i + 1)); \
		if [ $$i -gt $$(($(SWARM_WAIT) * 5)) ]; then \
			echo "swarm-down: $(STACK)'s containers or network still exist after $(SWARM_WAIT) s" >&2; exit 1; \
		fi; \
		sleep 0.2; \
	done; \
	echo "swarm-down: stack $(STACK) is gone"; \
	docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '^(server|client):swarm-[0-9a-f]{12}$$' \
		| xargs -r docker image rm >/dev/null 2>&1 || true; \
	if [ -f $(SWARM_MARK) ]; then \
		read node gw <$(SWARM_MARK); \
		if [ "$$node" != "$$(docker info -f '{{.Swarm.NodeID}}')" ]; then \
			echo "swarm-down: this is not the swarm swarm-up made; staying in it"; \
		elif [ -n "$$(docker service ls -q)" ]; then \
			echo "swarm-down: other services run on this swarm; staying in it"; \
		else \
			docker swarm leave --force >/dev/null; \
			if [ "$$gw" = created ]; then docker network rm docker_gwbridge >/dev/null 2>&1 || true; fi; \
			echo "swarm-down: left the swarm swarm-up made"; \
		fi; \
		rm -f $(SWARM_MARK); \
	fi
