#!/bin/sh
# `make cluster-down`: removes the cluster of `make cluster-up` whatever
# state it is in: its nodes (running, stopped or half made), their volumes,
# their network, the cgroup directories their engines made (one per
# controller hierarchy on cgroup v1, one on v2), and $CLUSTER_DIR. Removing
# nothing when there is nothing is a success.
#
# Settings (from the Makefile): CLUSTER (default tp0-cluster), CLUSTER_DIR
# (default target/cluster).
set -eu
cd "$(dirname "$0")/.."
name=${CLUSTER:-tp0-cluster}
dir=${CLUSTER_DIR:-target/cluster}
me=cluster-down

# The image the nodes ran from, which also removes their cgroups: any image
# with a shell and find will do.
image=""
if [ -f "$dir/node-image" ]; then read -r image _ <"$dir/node-image"; fi
if [ -z "$image" ] || ! docker image inspect "$image" >/dev/null 2>&1; then
    image=$(docker ps -a -f "label=org.tp0.cluster=$name" --format '{{.Image}}' | head -n 1)
fi
for candidate in "tp0-cluster-node:${NODE_SUITE:-bookworm}" "${NODE_IMAGE:-docker.io/library/docker:20.10.24-dind}"; do
    if [ -z "$image" ] && docker image inspect "$candidate" >/dev/null 2>&1; then image=$candidate; fi
done

nodes=$(docker ps -a -q -f "label=org.tp0.cluster=$name")
if [ -n "$nodes" ]; then
    # shellcheck disable=SC2086 # one word per container
    docker rm -f -v $nodes >/dev/null
    echo "$me: removed $(echo "$nodes" | wc -l | tr -d ' ') node(s) of $name"
fi
volumes=$(docker volume ls -q -f "label=org.tp0.cluster=$name")
if [ -n "$volumes" ]; then
    # shellcheck disable=SC2086 # one word per volume
    docker volume rm $volumes >/dev/null || true
    echo "$me: removed volume(s) $(echo "$volumes" | tr '\n' ' ' | sed 's/ $//')"
fi
if docker network inspect "$name" >/dev/null 2>&1; then
    docker network rm "$name" >/dev/null
    echo "$me: removed network $name"
fi

# The nodes' cgroup directories, /<node> at the top of each hierarchy, are
# the host's: removed through a container that mounts the cgroup file
# system, so this also works where the engine runs in a VM. A cgroup whose
# last process has just died may take a moment to be removable.
if [ -n "$image" ]; then
    # shellcheck disable=SC2016 # expanded by the container's shell
    script='
        i=0
        while :; do
            left=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d \( -name "$1-[0-9]" -o -name "$1-[0-9][0-9]" \))
            [ -n "$left" ] || exit 0
            for d in $left; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
            i=$((i + 1))
            if [ "$i" -gt 50 ]; then echo "cgroup directories left:" $left >&2; exit 1; fi
            sleep 0.2
        done'
    found=$(docker run --rm --network none --entrypoint sh -v /sys/fs/cgroup:/sys/fs/cgroup:ro "$image" \
        -c "find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d \\( -name \"\$1-[0-9]\" -o -name \"\$1-[0-9][0-9]\" \\) | wc -l" \
        sh "$name") || found=0
    if [ "$found" -gt 0 ]; then
        docker run --rm --network none --entrypoint sh -v /sys/fs/cgroup:/sys/fs/cgroup:rw "$image" \
            -c "$script" sh "$name"
        echo "$me: removed $name's cgroup directories ($found: one per node and controller hierarchy)"
    fi
fi
rm -rf "$dir"
echo "$me: $name is gone"
