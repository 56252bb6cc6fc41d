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
# server and client images (a cache hit once those are built). It is handed
# no host path (Git Bash rewrites them; rootless Podman cannot write through
# a bind mount): it writes the file to its standard output, which goes to a
# temporary file beside the target, renamed into place once complete.
# Options of the generator may come first (`make swarm-up` passes
# `--swarm ...`).
set -eu
me=generar-compose.sh
here=$(cd -- "$(dirname -- "$0")" && pwd)
image=${COMPOSE_GEN_IMAGE:-tp0-compose-gen:latest}

if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "$me: building the generator image $image (the first time, it is compiled from source inside Docker: a few minutes)" >&2
fi
if ! build_log=$(docker build -q -f "$here/compose-gen/Dockerfile" -t "$image" "$here" 2>&1); then
    printf '%s\n' "$build_log" >&2
    echo "$me: cannot build the generator image $image" >&2
    exit 1
fi

# The output file is the generator's second-to-last argument (options, then
# `<output-file> <client-count>`); the generator gets `-` (standard output)
# in its place. Anything else, a usage error included, is the generator's to
# judge.
output=
if [ "$#" -ge 2 ]; then
    position=$(($# - 1))
    i=0
    for arg do
        shift
        i=$((i + 1))
        if [ "$i" = "$position" ] && [ -n "$arg" ] && [ "$arg" != - ]; then
            output=$arg
            arg=-
        fi
        set -- "$@" "$arg"
    done
fi
if [ -z "$output" ]; then
    exec docker run --rm --network none "$image" "$@"
fi

dir=$(dirname -- "$output")
if [ ! -d "$dir" ]; then
    echo "$me: no such directory: $dir" >&2
    exit 1
fi
# Beside the target, so the rename is atomic; removed on any way out.
partial="$dir/.$(basename -- "$output").$$.partial"
trap 'rm -f "$partial"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if ! : >"$partial"; then
    echo "$me: cannot write in $dir" >&2
    exit 1
fi
status=0
docker run --rm --network none "$image" "$@" >"$partial" || status=$?
if [ "$status" -ne 0 ]; then
    exit "$status"
fi
mv -f "$partial" "$output"
echo "$me: wrote $output"
