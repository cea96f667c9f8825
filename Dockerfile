# The grading image: CPU torch, the autograder package, every problem set's autograder, unprivileged uids for
# student code. Build it with docker/build-image.sh (it stages the local torch wheel and the pip CA bundle).
# BASE_IMAGE is any Debian-like image with python3 (3.11) and venv; the default is the usual public one.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1

# docker/context/: wheels/ (e.g. the torch CPU wheel; may be empty) and ca.crt (the CA bundle pip must trust
# behind a TLS-intercepting proxy; may be empty).
# Dependencies first (a layer that changes only with pyproject.toml), then the package itself.
COPY docker/context/ /tmp/ctx/
COPY pyproject.toml README.md /src/
RUN set -eux; \
    if [ -s /tmp/ctx/ca.crt ]; then export PIP_CERT=/tmp/ctx/ca.crt; fi; \
    python3 -m venv /opt/mfdl; \
    mkdir -p /src/autograder && touch /src/autograder/__init__.py; \
    /opt/mfdl/bin/pip install --find-links /tmp/ctx/wheels "torch==2.13.0" /src; \
    rm -rf /tmp/ctx /root/.cache
COPY autograder /src/autograder
RUN /opt/mfdl/bin/pip install --no-deps --no-build-isolation --force-reinstall /src && rm -rf /src /root/.cache

# Problem sets: master notebooks and built autograders are readable by root only (the grader), never by the
# uids that run student code.
COPY grader_config.yaml /srv/mfdl/grader_config.yaml
COPY solutions /srv/mfdl/solutions
# each set's mfdl_checks is a symlink to ../../autograder/mfdl_checks (shipped to students by `files`)
COPY autograder/mfdl_checks /srv/mfdl/autograder/mfdl_checks
COPY assignments /srv/mfdl/assignments
RUN set -eux; \
    for ps in $(/opt/mfdl/bin/python -c "from autograder.config import load_config as l; print(' '.join(l('/srv/mfdl/grader_config.yaml').problem_sets))"); do \
        /opt/mfdl/bin/mfdl --config /srv/mfdl/grader_config.yaml assign "$ps"; \
    done; \
    chmod -R go-rwx /srv/mfdl/solutions /srv/mfdl/build; \
    for i in $(seq 0 63); do \
        echo "student$i:x:$((61000 + i)):$((61000 + i))::/home/student:/usr/sbin/nologin" >> /etc/passwd; \
        echo "student$i:x:$((61000 + i)):" >> /etc/group; \
    done; \
    mkdir -p /home/student

ENV PATH=/opt/mfdl/bin:$PATH
WORKDIR /srv/mfdl
CMD ["mfdl", "--help"]
