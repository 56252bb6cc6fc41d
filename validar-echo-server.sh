#!/bin/sh
# Checks that the echo server answers a message with the same message.
#
#   ./validar-echo-server.sh
#
# Sends one line with netcat from a throwaway container on the server's
# compose network (no netcat on the host, no published port) and prints
# exactly one of
#   action: test_echo_server | result: success      (exit 0)
#   action: test_echo_server | result: fail         (exit 1)
# on stdout; a fail also says why in one line on stderr. Every step is
# bounded in time, so a server that never answers is a fail within seconds,
# never a hang. The host side needs only POSIX sh utilities and Docker: no
# `timeout` (macOS has none), no host path handed to the container.
#
# Environment (all optional):
#   NETWORK        compose network of the server   (tp0_testing_net)
#   SERVER_HOST    server's name on that network   (server)
#   SERVER_CONFIG  ini file holding SERVER_PORT    (server/config.ini beside
#                  this script; port 12345 if the key is absent)
#   NC_IMAGE       image with sh, nc and timeout   (docker.io/library/busybox:latest)
#   NC_TIMEOUT     seconds for connect and answer  (3)
set -u

me=validar-echo-server.sh
here=$(dirname -- "$0")
network=${NETWORK:-tp0_testing_net}
host=${SERVER_HOST:-server}
config=${SERVER_CONFIG:-$here/server/config.ini}
image=${NC_IMAGE:-docker.io/library/busybox:latest}
wait_s=${NC_TIMEOUT:-3}
# The whole `docker run`, image start and engine included.
limit=$((wait_s + 10))

result() {
    echo "action: test_echo_server | result: $1"
    if [ "$1" = success ]; then exit 0; else exit 1; fi
}

# Why the check failed, in one line on stderr, then the contract's line.
fail() {
    echo "$me: $1" >&2
    result fail
}

# The port the server listens on, as its config file says; the server's own
# default when the file or the key is missing.
port=12345
if [ -r "$config" ]; then
    value=$(sed -n 's/^[[:space:]]*SERVER_PORT[[:space:]]*[=:][[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$config" | tail -n 1)
    if [ -n "$value" ]; then port=$value; fi
fi

# Unique per run, so an echo left over from anything else cannot match.
message="validar-echo-server $$ $(date +%s)"
container="validar-echo-server-$$"
errors=$(mktemp 2>/dev/null) || fail "cannot create a temporary file"
trap 'rm -f "$errors"' EXIT

# Ends a `docker run` (process $1) that outlives $limit seconds: a stuck
# engine, or an image that ignores the inner time limit. SIGKILL, since the
# docker CLI forwards a SIGTERM to the container and goes on waiting. Stopped
# early with SIGTERM, it takes its sleep along.
watchdog() {
    nap=
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$limit" &
    nap=$!
    wait "$nap"
    echo "docker run did not finish within $limit s" >>"$errors"
    kill -KILL "$1" 2>/dev/null
}

# Inside the container, `timeout` bounds the whole exchange and `nc -w` the
# connect. The trailing ".<status>" keeps the answer's own final newline,
# which command substitution would strip: the echo must be byte-exact.
output=$(
    # Not even the shell's own "Killed" for a job the watchdog ended:
    # docker's and netcat's stderr go to $errors, read below.
    exec 2>/dev/null
    docker run --rm --name "$container" --network "$network" \
        -e MESSAGE="$message" -e HOST="$host" -e PORT="$port" -e WAIT="$wait_s" \
        "$image" sh -c 'printf "%s\n" "$MESSAGE" | timeout "$WAIT" nc -w "$WAIT" "$HOST" "$PORT"' \
        2>"$errors" &
    run=$!
    watchdog "$run" </dev/null >/dev/null 2>&1 &
    dog=$!
    wait "$run"
    status=$?
    kill "$dog" 2>/dev/null
    echo ".$status"
)
status=${output##*.}
answer=${output%.*}

if [ "$status" = 0 ] && [ "$answer" = "$message
" ]; then
    result success
fi
if [ "$status" -gt 1 ]; then
    # Whatever outlived its client is removed, without waiting on the engine.
    docker rm -f "$container" </dev/null >/dev/null 2>&1 &
fi
# The last non-blank line docker or netcat wrote, docker's pointer to its
# --help left out.
# shellcheck disable=SC2016 # sed's own `$` (the last line)
why=$(sed -e "/--help'/d" "$errors" | sed -n '/[^[:space:]]/h; ${x;p;}' | tr -d '\r')
case $status in
0) fail "the answer from $host:$port differs from the line sent" ;;
125) fail "docker could not run the netcat container ($image on network $network): ${why:-docker run exited 125}" ;;
126 | 127) fail "cannot run the check: ${why:-exit status $status}" ;;
*) fail "no echo from $host:$port on network $network: ${why:-no answer within $wait_s s}" ;;
esac
