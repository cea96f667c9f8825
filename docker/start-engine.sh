#!/usr/bin/env bash
# Make sure a Docker engine answers: start dockerd (as root) if none runs. Prints the reason and fails if it
# cannot be started.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "no Docker engine reachable and not root: cannot start one" >&2; exit 1; fi
if ! command -v dockerd >/dev/null 2>&1; then
    apt-get install -y docker.io >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y docker.io >/dev/null)
fi
nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/mfdl-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then exit 0; fi
    sleep 1
done
echo "dockerd did not come up; its log:" >&2
tail -20 /var/log/mfdl-dockerd.log >&2
exit 1
