#!/bin/sh
# `make cluster-up`: a Docker Swarm of NODES engines in containers on this
# engine, MANAGERS of them managers (node 1 first), the rest workers, on a
# bridge network of their own; the project's images loaded into every node.
# Each manager's endpoint is a unix socket in $CLUSTER_DIR/<node>/; the first
# one's address goes to $CLUSTER_DIR/docker-host, for DOCKER_HOST.
#
# A cluster already up with the same shape is kept (its images reloaded);
# anything else of that name is removed first (scripts/cluster-down.sh).
#
# Settings (from the Makefile): CLUSTER (name of everything made, default
# tp0-cluster), NODES (3), MANAGERS (1), CLUSTER_DIR (target/cluster),
# CLUSTER_WAIT (seconds each wait may take, 60).
set -eu
cd "$(dirname "$0")/.."
name=${CLUSTER:-tp0-cluster}
nodes=${NODES:-3}
managers=${MANAGERS:-1}
dir=${CLUSTER_DIR:-target/cluster}
wait_s=${CLUSTER_WAIT:-60}
me=cluster-up

case $nodes$managers in
*[!0-9]*)
    echo "$me: NODES and MANAGERS are numbers" >&2
    exit 2
    ;;
esac
if [ "$managers" -lt 1 ] || [ "$nodes" -lt "$managers" ]; then
    echo "$me: need 1 <= MANAGERS <= NODES (MANAGERS=$managers NODES=$nodes)" >&2
    exit 2
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
role() { if [ "$1" -le "$managers" ]; then echo manager; else echo worker; fi; }
node_ids() { docker ps -a -q -f "label=org.tp0.cluster=$name"; }
socket() { echo "$dir/$1/docker.sock"; }
# `docker` in a node, through this engine.
in_node() {
    target=$1
    shift
    docker exec "$target" docker "$@"
}
# Waits, at most CLUSTER_WAIT seconds, until `$@` succeeds.
wait_until() {
    what=$1
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt $((wait_s * 5)) ]; then
            echo "$me: $what after $wait_s s" >&2
            exit 1
        fi
        sleep 0.2
    done
}

# The cluster as it stands, if it is up with this shape: every node running
# and in the swarm with its role.
same_shape() {
    [ "$(node_ids | wc -l | tr -d ' ')" = "$nodes" ] || return 1
    n=1
    while [ "$n" -le "$nodes" ]; do
        node=$name-$n
        [ "$(docker inspect -f '{{.State.Running}} {{index .Config.Labels "org.tp0.cluster.role"}}' "$node" 2>/dev/null)" = "true $(role "$n")" ] || return 1
        [ "$(in_node "$node" info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ] || return 1
        n=$((n + 1))
    done
    [ -f "$dir/docker-host" ]
}

started=$(date +%s)
if same_shape; then
    echo "$me: $name is up ($nodes nodes, $managers manager(s)); keeping it"
    CLUSTER=$name CLUSTER_DIR=$dir sh scripts/cluster-load.sh
    echo "$me: DOCKER_HOST=$(cat "$dir/docker-host")"
    exit 0
fi
# A failure from here on leaves what was made: say how it goes.
trap 'echo "$me: failed; make cluster-down removes what was made" >&2' EXIT
if [ -n "$(node_ids)" ] || docker network inspect "$name" >/dev/null 2>&1; then
    echo "$me: $name exists in another shape or state; removing it first"
    CLUSTER=$name CLUSTER_DIR=$dir sh scripts/cluster-down.sh
fi

CLUSTER_DIR=$dir sh scripts/node-image.sh
read -r image mode <"$dir/node-image"
if [ "$mode" = privileged ]; then
    set -- --privileged
else
    # Every capability but CAP_SYS_RESOURCE, which an engine that refuses
    # --privileged lacks; no seccomp, AppArmor or masked /proc and /sys
    # paths, which a nested engine needs to set up its own containers.
    set -- --cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined \
        --security-opt apparmor=unconfined --security-opt systempaths=unconfined
fi

echo "$me: network $name"
docker network create --label "org.tp0.cluster=$name" "$name" >/dev/null
gid=$(id -g)
n=1
while [ "$n" -le "$nodes" ]; do
    node=$name-$n
    r=$(role "$n")
    # A manager's endpoint, in a directory of this machine, also reachable
    # by the host user's group.
    hosts="--host unix:///var/run/docker.sock"
    mount=""
    if [ "$r" = manager ]; then
        mkdir -p "$dir/$node"
        rm -f "$(socket "$node")"
        hosts="$hosts --host unix:///cluster/docker.sock"
        mount=$dir/$node:/cluster
    fi
    docker volume create --label "org.tp0.cluster=$name" "$node-data" >/dev/null
    echo "$me: node $node ($r)"
    # The nested engine keeps its containers' cgroups under /<node>, apart
    # from this engine's and the other nodes'; without the host's cgroup
    # hierarchy mounted read-write its containers cannot start.
    # shellcheck disable=SC2086 # $hosts is a list of words
    docker run -d --name "$node" --hostname "$node" "$@" \
        --label "org.tp0.cluster=$name" --label "org.tp0.cluster.role=$r" \
        --network "$name" -v "$node-data:/var/lib/docker" \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run ${mount:+-v "$mount"} \
        "$image" dockerd $hosts --group "$gid" --cgroup-parent "/$node" >/dev/null
    n=$((n + 1))
done
n=1
while [ "$n" -le "$nodes" ]; do
    wait_until "the engine in $name-$n does not answer" in_node "$name-$n" info
    n=$((n + 1))
done

first=$name-1
addr=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$name\").IPAddress}}" "$first")
in_node "$first" swarm init --advertise-addr "$addr" >/dev/null
echo "$me: $first: swarm initialised, advertising $addr:2377"
manager_token=$(in_node "$first" swarm join-token -q manager)
worker_token=$(in_node "$first" swarm join-token -q worker)
n=2
while [ "$n" -le "$nodes" ]; do
    node=$name-$n
    if [ "$(role "$n")" = manager ]; then token=$manager_token; else token=$worker_token; fi
    in_node "$node" swarm join --token "$token" "$addr:2377" >/dev/null
    echo "$me: $node joined as a $(role "$n")"
    n=$((n + 1))
done
ready() {
    [ "$(in_node "$first" node ls --format '{{.Status}}' | grep -c '^Ready$')" = "$nodes" ]
}
wait_until "not every node of $name is ready" ready

echo "unix://$(socket "$first")" >"$dir/docker-host"
CLUSTER=$name CLUSTER_DIR=$dir sh scripts/cluster-load.sh
echo "$me: $name is up in $(($(date +%s) - started)) s: $nodes nodes, $managers manager(s)"
echo "$me: DOCKER_HOST=$(cat "$dir/docker-host")"
trap - EXIT
