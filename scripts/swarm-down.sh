#!/bin/sh
# `make swarm-down`: removes the stack and waits until its containers and
# network are gone; leaves the swarm only if swarm-up made it, it is still
# the same swarm and nothing else runs on it.
#
# Settings (from the Makefile): STACK, SWARM_WAIT (seconds), SWARM_MARK.
set -eu
cd "$(dirname "$0")/.."

if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
    echo "swarm-down: the engine is in no swarm"
    rm -f "$SWARM_MARK"
    exit 0
fi
if docker stack ls --format '{{.Name}}' | grep -qx "$STACK"; then
    docker stack rm "$STACK"
fi
i=0
while [ -n "$(docker ps -aq -f "label=com.docker.stack.namespace=$STACK")" ] ||
    docker network inspect "${STACK}_testing_net" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt $((SWARM_WAIT * 5)) ]; then
        echo "swarm-down: $STACK's containers or network still exist after $SWARM_WAIT s" >&2
        exit 1
    fi
    sleep 0.2
done
echo "swarm-down: stack $STACK is gone"
docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '^(server|client):swarm-[0-9a-f]{12}$' |
    xargs -r docker image rm >/dev/null 2>&1 || true
if [ -f "$SWARM_MARK" ]; then
    read -r node gw <"$SWARM_MARK"
    if [ "$node" != "$(docker info -f '{{.Swarm.NodeID}}')" ]; then
        echo "swarm-down: this is not the swarm swarm-up made; staying in it"
    elif [ -n "$(docker service ls -q)" ]; then
        echo "swarm-down: other services run on this swarm; staying in it"
    else
        docker swarm leave --force >/dev/null
        if [ "$gw" = created ]; then docker network rm docker_gwbridge >/dev/null 2>&1 || true; fi
        echo "swarm-down: left the swarm swarm-up made"
    fi
    rm -f "$SWARM_MARK"
fi
