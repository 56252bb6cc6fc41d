#!/bin/sh
# Imports a root filesystem made by scripts/debian-root.sh as IMAGE, without
# apt's caches, docs and man pages, with the `docker import --change`
# instructions given after the message.
#
# Usage: scripts/import-root.sh <root> <image> <message> [<change>...]
set -eu
root=$1 image=$2 message=$3
shift 3
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/* \
    "$root/usr/share/doc" "$root/usr/share/man"
for change do
    shift
    set -- "$@" --change "$change"
done
tar -C "$root" -cf - . | docker import "$@" --message "$message" - "$image" >/dev/null
