#!/usr/bin/env bash
# A private Docker engine for Kintsugi's docker sandbox backend, with host networking left untouched.
#
#   scripts/dockerd.sh install   apt-get install docker.io and debootstrap (the only step that installs)
#   scripts/dockerd.sh start     start dockerd (own data/exec root and socket, no bridge, no iptables/NAT),
#                                wait until it answers and print the `export DOCKER_HOST=...` line
#   scripts/dockerd.sh stop      remove Kintsugi's containers, stop dockerd by its PID file, check that
#                                network interfaces and iptables rules are as they were before `start`
#   scripts/dockerd.sh status    say whether it answers (exit 0) or not (exit 1)
#
# Settings (environment): KINTSUGI_DOCKER_DIR (state: data root, pid file, log, network snapshots;
# default /var/lib/kintsugi-docker), KINTSUGI_DOCKER_SOCK (default /run/kintsugi-docker.sock).
set -euo pipefail

STATE_DIR="${KINTSUGI_DOCKER_DIR:-/var/lib/kintsugi-docker}"
SOCK="${KINTSUGI_DOCKER_SOCK:-/run/kintsugi-docker.sock}"
EXEC_ROOT="/run/kintsugi-docker"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
HOST="unix://$SOCK"
START_WAIT_S=60
STOP_WAIT_S=30

die() { echo "dockerd.sh: $*" >&2; exit 1; }

running_pid() {
    # The PID from the pid file when that process is still a dockerd, else nothing.
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "dockerd" ]] || return 1
    echo "$pid"
}

answers() { DOCKER_HOST="$HOST" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

network_snapshot() {
    # Interfaces and firewall rules, to compare before start and after stop.
    if command -v ip >/dev/null; then ip -o link show | awk -F': ' '{print "link " $2}' | sort; fi
    if command -v iptables >/dev/null; then
        for table in filter nat; do iptables -t "$table" -S 2>/dev/null | sed "s/^/$table /" || true; done
    fi
    echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo '?')"
}

cmd_install() {
    [[ "$(id -u)" == 0 ]] || die "install needs root (it runs apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap
}

cmd_start() {
    [[ "$(id -u)" == 0 ]] || die "start needs root (dockerd does)"
    command -v dockerd >/dev/null || die "dockerd not found; run: apt-get update && $0 install"
    command -v docker >/dev/null || die "the docker client is not found; run: apt-get update && $0 install"
    if pid="$(running_pid)"; then
        answers || die "dockerd (pid $pid) is running but does not answer on $SOCK; see $LOG_FILE"
        echo "export DOCKER_HOST=$HOST"
        return 0
    fi
    mkdir -p "$STATE_DIR/data" "$EXEC_ROOT"
    network_snapshot >"$STATE_DIR/network.before"
    # Never start dockerd without these networking flags: no docker0 bridge, no iptables/NAT rules,
    # no change to ip_forward. Containers run with network_mode=none anyway.
    setsid dockerd \
        --data-root "$STATE_DIR/data" \
        --exec-root "$EXEC_ROOT" \
        --pidfile "$PID_FILE" \
        -H "$HOST" \
        --bridge=none \
        --iptables=false \
        --ip-forward=false \
        --ip-masq=false \
        --userland-proxy=false \
        --shutdown-timeout 5 \
        </dev/null >"$LOG_FILE" 2>&1 &
    local launched=$!
    local waited=0
    until answers; do
        kill -0 "$launched" 2>/dev/null || die "dockerd exited while starting; see $LOG_FILE: $(tail -n 3 "$LOG_FILE")"
        ((waited++ < START_WAIT_S * 10)) || die "dockerd did not answer on $SOCK within ${START_WAIT_S}s; see $LOG_FILE"
        sleep 0.1
    done
    running_pid >/dev/null || echo "$launched" >"$PID_FILE"
    echo "export DOCKER_HOST=$HOST"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        echo "dockerd.sh: no dockerd of ours is running (pid file $PID_FILE)"
        return 0
    fi
    if answers; then
        local ids
        ids="$(DOCKER_HOST="$HOST" docker ps -aq --filter label=kintsugi.sandbox)"
        if [[ -n "$ids" ]]; then
            # shellcheck disable=SC2086
            DOCKER_HOST="$HOST" docker rm -f $ids >/dev/null || true
        fi
    fi
    kill -TERM "$pid"
    local waited=0
    while [[ -d "/proc/$pid" ]] && ((waited++ < STOP_WAIT_S * 10)); do sleep 0.1; done
    if [[ -d "/proc/$pid" ]]; then
        echo "dockerd.sh: dockerd (pid $pid) ignored SIGTERM for ${STOP_WAIT_S}s; sending SIGKILL" >&2
        kill -KILL "$pid"
    fi
    rm -f "$PID_FILE" "$SOCK"
    if [[ -f "$STATE_DIR/network.before" ]]; then
        if ! diff <(cat "$STATE_DIR/network.before") <(network_snapshot) >&2; then
            die "network interfaces or iptables rules differ from before start (diff above)"
        fi
    fi
    echo "dockerd.sh: stopped dockerd (pid $pid); network unchanged"
}

cmd_status() {
    if pid="$(running_pid)" && answers; then
        echo "dockerd.sh: running (pid $pid); export DOCKER_HOST=$HOST"
    else
        echo "dockerd.sh: not running (or not answering on $SOCK)"
        return 1
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) die "usage: $0 install|start|stop|status" ;;
esac
