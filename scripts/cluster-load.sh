#!/bin/sh
# Loads the project's images from this engine into every running node of the
# cluster of `make cluster-up`, under their names and under the tags that
# `make swarm-up` deploys (`server:swarm-<image id>`, `client:swarm-<image
# id>`): a Swarm task runs from the image of its own node (the stack is
# deployed with --resolve-image never), and there is no registry to pull
# from. `docker save | docker load` keeps the image ids.
#
# Usage: scripts/cluster-load.sh [IMAGE...]   (default: server:latest client:latest)
# Settings: CLUSTER (default tp0-cluster).
set -eu
name=${CLUSTER:-tp0-cluster}
me=cluster-load
[ "$#" -gt 0 ] || set -- server:latest client:latest

nodes=$(docker ps -f "label=org.tp0.cluster=$name" --format '{{.Names}}' | sort)
if [ -z "$nodes" ]; then
    echo "$me: no node of $name is running (make cluster-up)" >&2
    exit 1
fi
present=""
for image do
    if docker image inspect "$image" >/dev/null 2>&1; then
        present="$present $image"
    else
        echo "$me: $image is not on this engine (make docker-image); not loaded"
    fi
done
[ -n "$present" ] || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # one word per image
docker save -o "$work/images.tar" $present
# Each image's swarm-<id> tag, as swarm-up.sh names it.
tags=""
for image in $present; do
    id=$(docker image inspect -f '{{.Id}}' "$image" | sed 's/^sha256://' | cut -c1-12)
    tags="$tags $image=${image%%:*}:swarm-$id"
done
for node in $nodes; do
    docker exec -i "$node" docker load -q <"$work/images.tar" >/dev/null
    for tag in $tags; do
        docker exec "$node" docker tag "${tag%%=*}" "${tag#*=}"
    done
    echo "$me: $node has$present (and their swarm-<id> tags)"
done
