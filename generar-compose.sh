#!/bin/sh
# Writes a Docker Compose file for the echo server and N clients.
#
#   ./generar-compose.sh <output-file> <client-count>
#
# <client-count> is a non-negative integer (0 = server only). On a usage
# error nothing is written and the exit status is 2. The generator is the
# workspace's compose-gen binary, built on first use; the output path is
# taken relative to the current directory.
set -eu
here=$(dirname -- "$0")
exec cargo run --quiet --release --manifest-path "$here/Cargo.toml" -p compose-gen -- "$@"
