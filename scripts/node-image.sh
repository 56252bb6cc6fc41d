#!/bin/sh
# Makes sure there is an image to run the nodes of `make cluster-up` from (a
# Docker engine in a container), and notes which one and how it must run in
# $CLUSTER_DIR/node-image (`<image> privileged` or `<image> capabilities`):
#
# - the official Docker-in-Docker image, pinned (present, else pulled), run
#   with --privileged, where this engine allows that;
# - else a local stand-in, tp0-cluster-node:<suite> (present, else made):
#   a Debian root filesystem (debootstrap, minbase) with Debian's docker.io,
#   iptables and the tools a node needs, whose command is `dockerd`; it runs
#   with every capability but CAP_SYS_RESOURCE (an engine that lacks it
#   refuses --privileged) and no seccomp or AppArmor profile.
#
# Usage: scripts/node-image.sh [IMAGE]   (default: docker.io/library/docker:20.10.24-dind)
# Settings: NODE_IMAGE (the default above), CLUSTER_DIR (default
# target/cluster), NODE_SUITE (default bookworm).
set -eu
cd "$(dirname "$0")/.."
image=${1:-${NODE_IMAGE:-docker.io/library/docker:20.10.24-dind}}
dir=${CLUSTER_DIR:-target/cluster}
suite=${NODE_SUITE:-bookworm}
stand_in=tp0-cluster-node:$suite
mkdir -p "$dir"

# The official image, where it can run privileged (a throwaway container
# that runs `true` says so).
if docker image inspect "$image" >/dev/null 2>&1 || docker pull "$image" >/dev/null 2>&1; then
    if docker run --rm --privileged --network none --entrypoint true "$image" >/dev/null 2>&1; then
        echo "$image privileged" >"$dir/node-image"
        echo "node-image: $image, run with --privileged"
        exit 0
    fi
    echo "node-image: this engine refuses --privileged; using a local stand-in for $image"
else
    echo "node-image: $image cannot be pulled; using a local stand-in"
fi

if docker image inspect "$stand_in" >/dev/null 2>&1; then
    echo "$stand_in capabilities" >"$dir/node-image"
    echo "node-image: $stand_in is present"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
sh scripts/debian-root.sh node-image "$suite" "$root" docker.io,iptables,ca-certificates,procps,iproute2
# shellcheck disable=SC2016 # a dpkg-query format, not the shell's
version=$(chroot "$root" dpkg-query -W -f '${Version}' docker.io)
sh scripts/import-root.sh "$root" "$stand_in" "local stand-in for $image: Debian $suite, docker.io $version" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'VOLUME /var/lib/docker' \
    'CMD ["dockerd"]'
echo "$stand_in capabilities" >"$dir/node-image"
echo "node-image: made $stand_in (docker.io $version)"
