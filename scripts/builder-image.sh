#!/bin/sh
# Makes sure the pinned Rust builder image of the Dockerfiles is present:
# already there, else pulled, else (a machine with no container registry) a
# local stand-in made under the same tag from Debian's packages and this
# machine's own Rust toolchain.
#
# Usage: scripts/builder-image.sh [IMAGE]   (default: the Dockerfiles' pin)
#
# The stand-in is a Debian root filesystem (debootstrap, minbase) with gcc,
# libc6-dev and ca-certificates, the toolchain's binaries and libraries
# without its docs, this machine's CA bundle (a container reaches the crate
# registry only through the trust store of the machine it runs on), and the
# official image's environment (CARGO_HOME, PATH). It refuses to stand in for
# a tag whose Rust version differs from the toolchain it would copy.
set -eu
cd "$(dirname "$0")/.."

pinned() {
    sed -n 's/^ARG RUST_IMAGE=//p' server/Dockerfile
}
image=${1:-$(pinned)}
if [ -z "$image" ]; then
    echo "builder-image: no 'ARG RUST_IMAGE=' in server/Dockerfile" >&2
    exit 1
fi

if sh scripts/image-at-hand.sh builder-image "$image"; then
    exit 0
fi

# rust:<version>-slim-<suite>: the version the toolchain must have, the
# Debian suite the root filesystem must be.
tag=${image##*:}
version=${tag%%-*}
suite=${tag##*-}
case "$version" in
[0-9]*.[0-9]*.[0-9]*) ;;
*)
    echo "builder-image: cannot read a Rust version from '$image'" >&2
    exit 1
    ;;
esac

if ! command -v rustc >/dev/null 2>&1; then
    echo "builder-image: $image is not present, cannot be pulled, and this machine has no Rust toolchain to make a stand-in from" >&2
    exit 1
fi
sysroot=$(rustc --print sysroot)
have=$("$sysroot/bin/rustc" -V | cut -d' ' -f2)
if [ "$have" != "$version" ]; then
    echo "builder-image: refusing to make $image from rustc $have (the tag pins $version)" >&2
    exit 1
fi
host=$("$sysroot/bin/rustc" -vV | sed -n 's/^host: //p')
if [ ! -d "$sysroot/lib/rustlib/$host/lib" ]; then
    echo "builder-image: the toolchain at $sysroot has no standard library for $host" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
sh scripts/debian-root.sh builder-image "$suite" "$root" gcc,libc6-dev,ca-certificates

# The toolchain as the official image lays it out under /usr/local: rustc
# finds its sysroot next to its binary. Docs, man pages and debugger
# wrappers stay behind.
mkdir -p "$root/usr/local/cargo/bin" "$root/usr/local/rustup"
tar -C "$sysroot" --exclude=./share --exclude='./bin/rust-gdb*' --exclude=./bin/rust-lldb \
    -cf - ./bin ./lib ./libexec 2>/dev/null | tar -C "$root/usr/local" -xf -
for tool in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
    [ -x "$root/usr/local/bin/$tool" ] && ln -sf "../../bin/$tool" "$root/usr/local/cargo/bin/$tool"
done
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
sh scripts/import-root.sh "$root" "$image" "local stand-in for $image: Debian $suite and rustc $have" \
    'ENV RUSTUP_HOME=/usr/local/rustup' \
    'ENV CARGO_HOME=/usr/local/cargo' \
    'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV RUST_VERSION=$version" \
    'CMD ["bash"]'
docker run --rm "$image" rustc -V
echo "builder-image: made $image"
