#!/usr/bin/env bash
# For hosts that cannot pull images: build a minimal Debian base with python3 + venv from the host's own apt
# sources (mmdebstrap, ~25 s) and import it as mfdl-base:bookworm. Then:
#   MFDL_BASE_IMAGE=mfdl-base:bookworm docker/build-image.sh
set -euo pipefail
name=${1:-mfdl-base:bookworm}
if docker image inspect "$name" >/dev/null 2>&1; then echo "$name exists"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$tmp/base.tar"
docker import "$tmp/base.tar" "$name"
