#!/bin/sh
# Writes a Docker Compose file for the echo server and N clients.
#
#   ./generar-compose.sh <output-file> <client-count>
#
# <client-count> is a non-negative integer (0 = server only). On a usage
# error nothing is written and the exit status is 2. The output path is taken
# relative to the current directory.
#
# Needs nothing but Docker: the generator (the workspace's compose-gen) runs
# from its own image, built from source with the same builder stage as the
# server and client images (a cache hit once those are built). It runs as the
# caller, with only the output file's directory mounted. Options of the
# generator may come first (`make swarm-up` passes `--swarm ...`).
set -eu
here=$(cd -- "$(dirname -- "$0")" && pwd)
image=${COMPOSE_GEN_IMAGE:-tp0-compose-gen:latest}

if ! build_log=$(docker build -q -f "$here/compose-gen/Dockerfile" -t "$image" "$here" 2>&1); then
    printf '%s\n' "$build_log" >&2
    echo "generar-compose.sh: cannot build the generator image $image" >&2
    exit 1
fi

# The output file is the generator's second-to-last argument (options, then
# `<output-file> <client-count>`). Its directory is mounted under the same
# absolute path, so paths and messages read as the caller wrote them.
mount=""
if [ "$#" -ge 2 ]; then
    eval "output=\${$(($# - 1))}"
    if [ -n "$output" ]; then
        outdir=$(cd -- "$(dirname -- "$output")" 2>/dev/null && pwd) || {
            echo "generar-compose.sh: no such directory: $(dirname -- "$output")" >&2
            exit 1
        }
        mount="$outdir:$outdir"
    fi
fi
exec docker run --rm --network none --user "$(id -u):$(id -g)" \
    ${mount:+--volume "$mount"} --workdir "$PWD" "$image" "$@"
