#!/usr/bin/env bash
# Build the grading image (default tag mfdl-grader:latest).
#   MFDL_BASE_IMAGE=name   use a local base image instead of the Dockerfile's default (see make-base-image.sh)
#   MFDL_IMAGE=tag         the tag to build
# The torch CPU wheel is taken from pip's configured local wheel folders (find-links) when present, and the CA
# bundle named by PIP_CERT (or pip's `cert` setting) is staged so pip inside the build trusts a TLS proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${MFDL_IMAGE:-mfdl-grader:latest}
pip_bin=${PIP:-.venv/bin/pip}
ctx=docker/context
rm -rf "$ctx"; mkdir -p "$ctx/wheels"
for dir in $("$pip_bin" config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p" | tr ' ' '\n' | sort -u); do
    cp "$dir"/torch-2.13.0*-cp311-*.whl "$ctx/wheels/" 2>/dev/null || true
done
cert=${PIP_CERT:-$("$pip_bin" config list 2>/dev/null | sed -n "s/^global.cert='\(.*\)'/\1/p" | head -1)}
if [ -n "$cert" ] && [ -f "$cert" ]; then cp "$cert" "$ctx/ca.crt"; else : > "$ctx/ca.crt"; fi
args=(--network host --force-rm -t "$tag")
if [ -n "${MFDL_BASE_IMAGE:-}" ]; then args+=(--build-arg "BASE_IMAGE=$MFDL_BASE_IMAGE"); fi
start=$(date +%s)
docker build "${args[@]}" .
echo "built $tag in $(( $(date +%s) - start )) s; size: $(docker image inspect "$tag" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
