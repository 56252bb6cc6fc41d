#!/bin/sh
# Measures what a user waits for with nothing but Docker, on a copy of the
# tracked files (the working tree is never touched), and prints a table:
#
#   clean build   both images from source, no layer cache (builder image present)
#   no change     both images again, nothing changed
#   up -> echo    from `compose up -d` returning to the first echoed message
#   one line      both images after a one-line change in server/src
#
# The up -> echo step uses the project's real container names and subnet, so
# it is skipped while a `tp0` of a user's is up.
set -eu
cd "$(dirname "$0")/.."

if [ -n "${COMPOSE:-}" ]; then
    compose=$COMPOSE
elif docker compose version >/dev/null 2>&1; then
    compose="docker compose"
else
    compose=docker-compose
fi

copy=$(mktemp -d)
project=tp0timings
cleanup() {
    (cd "$copy" && $compose -p "$project" -f docker-compose-dev.yaml down -v -t 1 >/dev/null 2>&1) || true
    docker rmi tp0-timing-server:latest tp0-timing-client:latest >/dev/null 2>&1 || true
    rm -rf "$copy"
}
trap cleanup EXIT
git ls-files -z | xargs -0 cp --parents -t "$copy" 2>/dev/null || {
    echo "docker-timings: cannot copy the tracked files" >&2
    exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Builds both images in the copy, tagged $1-server / $1-client; prints ms.
build_both() {
    start=$(now_ms)
    (
        cd "$copy"
        docker build -q ${2:+"$2"} -f ./server/Dockerfile -t "$1server:latest" . >/dev/null
        docker build -q -f ./client/Dockerfile -t "$1client:latest" . >/dev/null
    ) 2>/dev/null
    echo $(($(now_ms) - start))
}

seconds() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

clean=$(build_both "" --no-cache)
unchanged=$(build_both "" "")

echo_ms=""
if docker container inspect server >/dev/null 2>&1 || docker container inspect client1 >/dev/null 2>&1 ||
    docker network inspect tp0_testing_net >/dev/null 2>&1; then
    echo "docker-timings: a tp0 project is up; up -> first echo not measured" >&2
else
    (cd "$copy" && $compose -p "$project" -f docker-compose-dev.yaml up -d >/dev/null 2>&1)
    start=$(now_ms)
    tries=0
    until docker logs client1 2>&1 | grep -q 'action: receive_message | result: success'; do
        tries=$((tries + 1))
        if [ "$tries" -gt 3000 ]; then
            echo "docker-timings: no echo within 30 s" >&2
            exit 1
        fi
        sleep 0.01
    done
    echo_ms=$(($(now_ms) - start))
fi

echo "// one-line change" >>"$copy/server/src/main.rs"
one_line=$(build_both tp0-timing- "")

echo "| step | time | target |"
echo "|---|---:|---:|"
echo "| clean build of both images (no layer cache) | $(seconds "$clean") | ≤ 3 min |"
echo "| rebuild after a one-line change in \`server/src\` | $(seconds "$one_line") | ≤ 60 s |"
echo "| rebuild with nothing changed | $(seconds "$unchanged") | ≤ 5 s |"
if [ -n "$echo_ms" ]; then
    echo "| \`up -d\` returned → first echoed message | $echo_ms ms | ≤ 1 s |"
fi
