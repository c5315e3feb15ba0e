#!/bin/sh
# Builds a Node 20 base image from Debian packages alone, for machines that cannot pull from a container registry:
# a Debian bookworm root made with debootstrap (--variant=minbase), plus the files of this machine's installed
# `nodejs` package (Node 20, e.g. from deb.nodesource.com). Imported into podman (or docker) as $IMAGE.
# Then: podman build --build-arg NODE_IMAGE=$IMAGE ... (see docs/operations.md, "Container image").
#
# Usage: sudo deploy/container/make-base-image.sh [image-name]   (needs debootstrap, and podman or docker)
set -eu
IMAGE=${1:-localhost/switchboard-node-base:20-bookworm}
ENGINE=${CONTAINER_ENGINE:-podman}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d /tmp/switchboard-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "the installed nodejs package is not Node >= 20" >&2; exit 1; }
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR"
# The nodejs package's programs: node, and npm with corepack as installed now (npm may have been updated in place,
# so the whole /usr/lib/node_modules rather than dpkg's file list).
tar -C / -cf - usr/bin/node usr/bin/npm usr/bin/npx usr/bin/corepack usr/lib/node_modules | tar -C "$ROOT" -xf -
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -cf - . | "$ENGINE" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]' - "$IMAGE"
echo "built $IMAGE"
