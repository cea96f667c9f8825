#!/usr/bin/env bash
# A stand-in for Gradescope's base image, for tests/test_gradescope.py: minimal Debian (mmdebstrap minbase)
# holding python3 and ca-certificates only: no python3-venv, no bubblewrap, no apt lists (as on Gradescope,
# whose setup.sh must run `apt-get update` before installing anything).
#   docker/make-gradescope-base.sh SUITE [TAG]     e.g. bookworm (Python 3.11), trixie (3.13), bullseye (3.9)
# This machine's Debian mirror serves dated snapshots (the host's apt config turns Valid-Until checks off); the
# image carries the same apt option so that setup.sh's `apt-get update` works here. Nothing else differs.
set -euo pipefail
suite=${1:?usage: make-gradescope-base.sh SUITE [TAG]}
tag=${2:-mfdl-gs-base:$suite}
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag exists"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --quiet --variant=minbase --include=python3,ca-certificates \
    --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"' \
    "$suite" "$tmp/base.tar"
docker import "$tmp/base.tar" "$tag" >/dev/null
echo "built $tag: $(docker run --rm "$tag" python3 --version)"
