#!/usr/bin/env bash
# Build what Gradescope builds from an autograder zip, for tests/test_gradescope.py: start a container of BASE
# (docker/make-gradescope-base.sh), unpack the zip into /autograder/source as Gradescope does, run its setup.sh
# there with the host network (apt-get and pip reach the package registries), and commit the result as TAG.
#   docker/build-gradescope-image.sh ZIP BASE TAG
# pip inside the container gets what pip on this host is configured with: the CA bundle (PIP_CERT or pip's
# `cert`, for a TLS-intercepting proxy) and the local wheel folders (`find-links`, e.g. the CPU torch wheel),
# both mounted read-only for the setup only, and a shared download cache (docker volume mfdl-gs-pip-cache) so
# that a second image needing the same large wheels does not download them again. None of this is in the image.
# The image is labelled with setup.sh's exit status (mfdl.setup-status) and committed even when setup fails
# (its SETUP_FAILED file is what run_autograder then reports); this script exits with that status.
set -uo pipefail
zip=${1:?usage: build-gradescope-image.sh ZIP BASE TAG}
base=${2:?usage: build-gradescope-image.sh ZIP BASE TAG}
tag=${3:?usage: build-gradescope-image.sh ZIP BASE TAG}
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag exists"
    exit "$(docker image inspect "$tag" --format '{{index .Config.Labels "mfdl.setup-status"}}')"
fi
pip_bin=${PIP:-$(dirname "$0")/../.venv/bin/pip}
[ -x "$pip_bin" ] || pip_bin=pip
config=$("$pip_bin" config list 2>/dev/null || true)
cert=${PIP_CERT:-$(printf '%s\n' "$config" | sed -n "s/^global.cert='\(.*\)'/\1/p" | head -1)}
links=$(printf '%s\n' "$config" | sed -n "s/^global.find-links='\(.*\)'/\1/p" | head -1)
name="mfdl-gs-setup-$$-$RANDOM"
args=(--name "$name" --network host -v "$(realpath "$zip")":/tmp/autograder.zip:ro
      -v mfdl-gs-pip-cache:/root/.cache/pip)
env=""
if [ -n "$cert" ] && [ -f "$cert" ]; then
    args+=(-v "$(realpath "$cert")":/tmp/mfdl-pip-ca.crt:ro)
    env+="export PIP_CERT=/tmp/mfdl-pip-ca.crt; "
fi
i=0; mounted=""
for dir in $links; do
    if [ -d "$dir" ]; then args+=(-v "$(realpath "$dir")":/tmp/mfdl-find-links/$i:ro); mounted+=" /tmp/mfdl-find-links/$i"; i=$((i + 1)); fi
done
if [ -n "$mounted" ]; then env+="export PIP_FIND_LINKS='${mounted# }'; "; fi
docker run "${args[@]}" "$base" bash -c "$env set -e
    mkdir -p /autograder/source /autograder/submission /autograder/results
    cd /autograder/source
    python3 -m zipfile -e /tmp/autograder.zip .
    chmod +x setup.sh run_autograder
    cp run_autograder /autograder/run_autograder
    set +e
    bash ./setup.sh"
status=$?
docker commit --change "LABEL mfdl.setup-status=$status" --change 'CMD ["/autograder/run_autograder"]' \
    "$name" "$tag" >/dev/null
docker rm "$name" >/dev/null
echo "built $tag (setup.sh exit status $status)"
exit "$status"
