#!/bin/sh
# Bootstraps a minimal Debian root filesystem (debootstrap, minbase) with the
# packages given, from the Debian mirror this machine's apt already uses
# (scripts/debian-mirror.sh; none found means debootstrap's default). Installs
# debootstrap with apt-get first where it is missing. On a failure, the end of
# debootstrap's log goes to stderr.
#
# Usage: scripts/debian-root.sh <who> <suite> <root> <package,package,...>
#   <who> is the name in front of what it prints (builder-image, node-image).
set -eu
cd "$(dirname "$0")/.."
who=$1 suite=$2 root=$3 packages=$4

if ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "$who: needs debootstrap (Debian: apt-get install debootstrap)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
mirror=$(sh scripts/debian-mirror.sh)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "$who: bootstrapping Debian $suite with $packages${mirror:+ from $mirror}"
debootstrap --variant=minbase --include="$packages" \
    "$suite" "$root" ${mirror:+"$mirror"} >"$log" 2>&1 || {
    tail -n 20 "$log" >&2
    exit 1
}
