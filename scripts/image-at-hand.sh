#!/bin/sh
# Exit 0 when IMAGE is present or can be pulled, saying which; 1 (after
# saying a stand-in is to be made) when neither: the first step every
# stand-in script takes.
#
# Usage: scripts/image-at-hand.sh <who> <image>
#   <who> is the name in front of what it prints (builder-image, busybox-image).
set -eu
who=$1 image=$2
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$who: $image is present"
    exit 0
fi
if docker pull "$image" >/dev/null 2>&1; then
    echo "$who: pulled $image"
    exit 0
fi
echo "$who: $image cannot be pulled; making a local stand-in"
exit 1
