#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A Docker engine for the docker code paths (container exec / cp, image roll) of runbook.ops:
# Debian's docker.io (20.10), dockerd started in the background (this machine has
# no systemd), readiness polled. Idempotent: does nothing when the engine answers.
#
#   scripts/setup_docker.sh          install if needed, start dockerd, wait until ready
#   scripts/setup_docker.sh --stop   stop the dockerd this script started
#
# dockerd's log: /var/log/runbook-dockerd.log; its pid: /run/runbook-dockerd.pid.
set -euo pipefail

LOG=/var/log/runbook-dockerd.log
PIDFILE=/run/runbook-dockerd.pid
SOCK=/var/run/docker.sock
say() { echo "[setup_docker] $*"; }

if [[ "${1:-}" == "--stop" ]]; then
    if [[ -s "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        kill "$(cat "$PIDFILE")"
        for _ in $(seq 1 100); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
        say "stopped dockerd $(cat "$PIDFILE")"
    fi
    rm -f "$PIDFILE"
    exit 0
fi

if [[ $EUID -ne 0 ]]; then
    say "must run as root (installs packages, starts dockerd)" >&2
    exit 1
fi

# Which docker client: Debian's (/usr/bin/docker) unless another is first on PATH;
# any client >= 17.06 negotiates the API version with the 20.10 engine.
docker_ok() { docker -H "unix://$SOCK" info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

# docker.io: the engine (dockerd) and a client; docker-compose (1.29): the compose command of the
# containers role on docker (docker.io 20.10 has no `docker compose` v2 plugin).
# shellcheck source=scripts/lib/debian_packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debian_packages.sh"
ensure_debian_packages setup_docker docker.io docker-compose

if docker_ok; then
    say "ready: docker engine $(docker info --format '{{.ServerVersion}}') already running"
    exit 0
fi

say "starting dockerd in the background (log $LOG)"
# setsid: dockerd outlives this script and is not tied to the caller's terminal or job.
setsid dockerd --host "unix://$SOCK" >>"$LOG" 2>&1 < /dev/null &
echo $! >"$PIDFILE"

# Readiness: poll the API (no fixed sleep), give up after 60 s with the log's tail.
for _ in $(seq 1 600); do
    if docker_ok; then
        say "ready: docker engine $(docker info --format '{{.ServerVersion}}') (pid $(cat "$PIDFILE"))"
        exit 0
    fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        say "dockerd exited; last lines of $LOG:" >&2
        tail -20 "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
say "dockerd did not answer within 60 s; last lines of $LOG:" >&2
tail -20 "$LOG" >&2
exit 1
