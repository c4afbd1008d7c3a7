#!/usr/bin/env bash
# Make a Docker daemon available on the controller for building fastpath's benchmark images.
#
#   scripts/controller-docker.sh start   # ensure a usable daemon (idempotent), print nothing else
#   scripts/controller-docker.sh env     # print `export DOCKER_HOST=...` for the daemon to use
#   scripts/controller-docker.sh stop    # stop the daemon this script started (if any)
#   scripts/controller-docker.sh status  # exit 0 when a usable daemon is reachable
#
# If `docker info` already works with the caller's environment (a system daemon, or a
# DOCKER_HOST the caller set) that daemon is used and never stopped by this script.
# Otherwise a private dockerd is started on FASTPATH_CTL_DOCKER_SOCK
# (default unix:///run/fastpath-ctl-docker.sock) with its own data and exec roots, and reused
# by later calls while it runs.
set -euo pipefail

SOCK_PATH=${FASTPATH_CTL_DOCKER_SOCK_PATH:-/run/fastpath-ctl-docker.sock}
DATA_ROOT=${FASTPATH_CTL_DOCKER_DATA_ROOT:-/var/lib/fastpath/ctl-docker}
EXEC_ROOT=${FASTPATH_CTL_DOCKER_EXEC_ROOT:-/run/fastpath-ctl-docker-exec}
PIDFILE=${FASTPATH_CTL_DOCKER_PIDFILE:-/run/fastpath-ctl-docker.pid}
LOGFILE=${FASTPATH_CTL_DOCKER_LOG:-/var/log/fastpath-ctl-docker.log}
WAIT_SECONDS=${FASTPATH_CTL_DOCKER_WAIT:-60}
OUR_HOST="unix://${SOCK_PATH}"

die() { echo "controller-docker: $*" >&2; exit 1; }

caller_docker_works() {
  # The caller's own environment (system daemon or the caller's DOCKER_HOST).
  [ "${DOCKER_HOST:-}" = "$OUR_HOST" ] && return 1
  timeout 10 docker info >/dev/null 2>&1
}

ours_works() {
  [ -S "$SOCK_PATH" ] && DOCKER_HOST="$OUR_HOST" timeout 10 docker info >/dev/null 2>&1
}

our_pid() {
  # PID of the dockerd we started, if it is still alive.
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q dockerd "/proc/$pid/comm" 2>/dev/null || return 1
  echo "$pid"
}

start_ours() {
  if ours_works; then return 0; fi
  if ! our_pid >/dev/null; then
    command -v dockerd >/dev/null || die "dockerd not found; run 'make setup' (installs docker.io)"
    [ "$(id -u)" -eq 0 ] || die "starting a private dockerd needs root (or start Docker yourself)"
    rm -f "$PIDFILE"
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOGFILE")"
    # setsid: the daemon must survive the shell (and pytest process group) that started it.
    # No bridge and no iptables rules: builds and benchmark containers use the host
    # network, and other dockerds on this machine (loopback SUTs) keep docker0 to themselves.
    setsid dockerd --host "$OUR_HOST" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" \
      --pidfile "$PIDFILE" --bridge=none --iptables=false --ip-masq=false \
      >>"$LOGFILE" 2>&1 </dev/null &
  fi
  local waited=0
  until ours_works; do
    sleep 0.5
    waited=$((waited + 1))
    if [ "$waited" -ge $((WAIT_SECONDS * 2)) ]; then
      tail -n 20 "$LOGFILE" >&2 || true
      die "dockerd on $OUR_HOST did not become ready within ${WAIT_SECONDS}s (log: $LOGFILE)"
    fi
  done
}

cmd=${1:-start}
case "$cmd" in
  start)
    caller_docker_works && exit 0
    start_ours
    ;;
  env)
    if caller_docker_works; then
      # Keep whatever the caller uses; print it so `eval` is harmless.
      if [ -n "${DOCKER_HOST:-}" ]; then echo "export DOCKER_HOST=${DOCKER_HOST}"; fi
      exit 0
    fi
    echo "export DOCKER_HOST=${OUR_HOST}"
    ;;
  status)
    caller_docker_works || ours_works
    ;;
  stop)
    if pid=$(our_pid); then
      kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && die "dockerd pid $pid did not stop"
      rm -f "$PIDFILE"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
