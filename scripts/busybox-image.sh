#!/bin/sh
# Makes sure the netcat image of validar-echo-server.sh is present: already
# there, else pulled, else (a machine with no container registry) a local
# stand-in under the same name: Debian's static busybox in an empty image.
#
# Usage: scripts/busybox-image.sh [IMAGE]   (default: docker.io/library/busybox:latest)
#
# Only the stand-in needs more than Docker: a static /bin/busybox, which it
# installs from Debian's busybox-static where apt-get can (as root).
set -eu
image=${1:-docker.io/library/busybox:latest}

if sh "$(dirname "$0")/image-at-hand.sh" busybox-image "$image"; then
    exit 0
fi

if [ ! -x /bin/busybox ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "busybox-image: $image cannot be pulled, and there is no /bin/busybox to make a stand-in from (Debian: apt-get install busybox-static)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
if ldd /bin/busybox >/dev/null 2>&1; then
    echo "busybox-image: /bin/busybox is dynamically linked; install Debian's busybox-static" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp /bin/busybox "$work/busybox"
printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]' \
    'ENV PATH=/bin' 'CMD ["sh"]' >"$work/Dockerfile"
docker build -q -t "$image" "$work" >/dev/null
echo "busybox-image: made $image"
