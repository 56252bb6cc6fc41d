#!/bin/sh
# `make swarm-up`: joins a single-node swarm made here if the engine is in
# none, tags the images by image id (so a rebuild is a new image for Swarm to
# roll to, and a rollback has the old one), writes the stack with
# generar-compose.sh --swarm and deploys it.
# A changed config is a new Swarm config name, so deploying rolls the service.
# Returns once the server's replicas run and no update is in progress.
#
# Settings (from the Makefile): STACK, SERVERS, CLIENTS, SWARM_DIR,
# SWARM_ADVERTISE_ADDR, SWARM_WAIT (seconds), COMPOSE_GEN_IMAGE, SWARM_MARK,
# SERVER_CONSTRAINT and CLIENT_CONSTRAINT (placement; empty: none),
# GENERATOR_ON_HOST (1: DOCKER_HOST is the cluster of `make cluster-up`, and
# the generator runs on this machine's engine, where its image is built).
set -eu
cd "$(dirname "$0")/.."

state=$(docker info -f '{{.Swarm.LocalNodeState}}')
mkdir -p "$SWARM_DIR/server" "$SWARM_DIR/client"
case $state in
inactive)
    gw=$(docker network inspect docker_gwbridge >/dev/null 2>&1 && echo kept || echo created)
    docker swarm init --advertise-addr "$SWARM_ADVERTISE_ADDR" >/dev/null
    echo "$(docker info -f '{{.Swarm.NodeID}}') $gw" >"$SWARM_MARK"
    echo "swarm-up: made this engine a single-node swarm; swarm-down leaves it again"
    ;;
active)
    if [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" != true ]; then
        echo "swarm-up: this node is a swarm worker: deploy from a manager" >&2
        exit 1
    fi
    echo "swarm-up: using the swarm this engine is in"
    ;;
*)
    echo "swarm-up: the engine's swarm state is '$state'; cannot deploy" >&2
    exit 1
    ;;
esac

cp server/config.ini "$SWARM_DIR/server/config.ini"
cp client/config.yaml "$SWARM_DIR/client/config.yaml"
sid=$(docker image inspect -f '{{.Id}}' server:latest | sed 's/^sha256://' | cut -c1-12)
cid=$(docker image inspect -f '{{.Id}}' client:latest | sed 's/^sha256://' | cut -c1-12)
docker tag server:latest "server:swarm-$sid"
docker tag client:latest "client:swarm-$cid"
# Each config named by its content (POSIX cksum: CRC and length), since the
# generator, which is handed no host path, cannot read the files.
tag() { cksum <"$1" | awk '{ print $1 "-" $2 }'; }
set -- --swarm --servers "$SERVERS" \
    --server-image "server:swarm-$sid" --client-image "client:swarm-$cid" \
    --server-config-tag "$(tag "$SWARM_DIR/server/config.ini")" \
    --client-config-tag "$(tag "$SWARM_DIR/client/config.yaml")"
if [ -n "${SERVER_CONSTRAINT:-}" ]; then set -- "$@" --server-constraint "$SERVER_CONSTRAINT"; fi
if [ -n "${CLIENT_CONSTRAINT:-}" ]; then set -- "$@" --client-constraint "$CLIENT_CONSTRAINT"; fi
(
    if [ "${GENERATOR_ON_HOST:-}" = 1 ]; then unset DOCKER_HOST; fi
    COMPOSE_GEN_IMAGE=$COMPOSE_GEN_IMAGE sh ./generar-compose.sh "$@" "$SWARM_DIR/docker-stack.yaml" "$CLIENTS"
)
docker stack deploy --prune --resolve-image never -c "$SWARM_DIR/docker-stack.yaml" "$STACK"

i=0
while :; do
    want=$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "${STACK}_server")
    have=$(docker service ps -f desired-state=running --format '{{.CurrentState}}' "${STACK}_server" | grep -c '^Running' || true)
    update=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "${STACK}_server")
    case $update in
    rollback_* | paused)
        message=$(docker service inspect -f '{{.UpdateStatus.Message}}' "${STACK}_server")
        echo "swarm-up: the server's update failed ($update): $message" >&2
        exit 1
        ;;
    updating) ;;
    *) if [ "$have" = "$want" ]; then break; fi ;;
    esac
    i=$((i + 1))
    if [ "$i" -gt $((SWARM_WAIT * 5)) ]; then
        echo "swarm-up: ${STACK}_server has $have of $want replicas running after $SWARM_WAIT s" >&2
        exit 1
    fi
    sleep 0.2
done
echo "swarm-up: stack $STACK deployed: $want server replica(s) running"
