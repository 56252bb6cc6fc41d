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
# Every step is bounded in time, so a server that never answers is a fail
# within seconds, never a hang.
#
# Environment (all optional):
#   NETWORK        compose network of the server   (tp0_testing_net)
#   SERVER_HOST    server's name on that network   (server)
#   SERVER_CONFIG  ini file holding SERVER_PORT    (server/config.ini beside
#                  this script; port 12345 if the key is absent)
#   NC_IMAGE       image with sh, nc and timeout   (busybox:latest)
#   NC_TIMEOUT     seconds for connect and answer  (3)
set -u

here=$(dirname -- "$0")
network=${NETWORK:-tp0_testing_net}
host=${SERVER_HOST:-server}
config=${SERVER_CONFIG:-$here/server/config.ini}
image=${NC_IMAGE:-busybox:latest}
wait_s=${NC_TIMEOUT:-3}

result() {
    echo "action: test_echo_server | result: $1"
    if [ "$1" = success ]; then exit 0; else exit 1; fi
}

# The port the server listens on, as its config file says; the server's own
# default when the file or the key is missing.
port=12345
if [ -r "$config" ]; then
    value=$(sed -n 's/^[[:space:]]*SERVER_PORT[[:space:]]*[=:][[:space:]]*\([0-9][0-9]*\)[[:space:]]*\r\{0,1\}$/\1/p' "$config" | tail -n 1)
    if [ -n "$value" ]; then port=$value; fi
fi

# Unique per run, so an echo left over from anything else cannot match.
message="validar-echo-server $$ $(date +%s)"
container="validar-echo-server-$$"

# Inside the container, `timeout` bounds the whole exchange and `nc -w` the
# connect; outside, `timeout` bounds `docker run` itself (a stuck engine, an
# image that ignores the inner limit), and a container that outlived its
# client is removed. The trailing ".<status>" keeps the answer's own final
# newline, which command substitution would strip: the echo must be
# byte-exact.
output=$(timeout -k 2 $((wait_s + 10)) \
    docker run --rm --name "$container" --network "$network" \
        -e MESSAGE="$message" -e HOST="$host" -e PORT="$port" -e WAIT="$wait_s" \
        "$image" sh -c 'printf "%s\n" "$MESSAGE" | timeout "$WAIT" nc -w "$WAIT" "$HOST" "$PORT"' \
        2>/dev/null
    echo ".$?")
status=${output##*.}
answer=${output%.*}
if [ "$status" -ge 124 ]; then
    docker rm -f "$container" >/dev/null 2>&1
fi

if [ "$answer" = "$message
" ]; then
    result success
fi
result fail
