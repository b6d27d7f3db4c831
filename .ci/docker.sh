#!/usr/bin/env bash
# Makes a Docker engine answer on this machine and builds the offline test image.
#
# Called by .ci/run before the tests, as root, on a fresh machine. Steps, each skipped when not needed:
#   1. install docker.io with apt when no `dockerd` binary is present,
#   2. start `dockerd` in the background (overlay2; vfs when overlay2 is refused), log to
#      /var/log/dockerd.log, and wait until `docker info` answers,
#   3. build labkit/busybox:1.0 (+ busybox:latest) from Debian's busybox-static: registries are
#      unreachable, so nothing is ever pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

LOG=/var/log/dockerd.log
WAIT_SECONDS="${LABKIT_DOCKERD_WAIT:-60}"

engine_answers() { docker info >/dev/null 2>&1; }

# Starts dockerd with the given storage driver; succeeds once `docker info` answers, fails when the
# daemon exits (e.g. overlay2 not supported on this filesystem) or does not answer in time.
start_dockerd() {
  local driver="$1" pid i
  echo "starting dockerd --storage-driver=$driver (log: $LOG)"
  # setsid + nohup: the daemon must outlive this script and the CI step that called it.
  setsid nohup dockerd --storage-driver="$driver" >>"$LOG" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    if engine_answers; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "dockerd ($driver) exited; last log lines:"; tail -n 5 "$LOG"
      return 1
    fi
    sleep 0.5
  done
  echo "dockerd ($driver) did not answer within ${WAIT_SECONDS}s; stopping it"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

t0=$SECONDS
if engine_answers; then
  echo "docker engine already answers"
else
  if ! command -v dockerd >/dev/null; then
    echo "installing docker.io"
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
  fi
  # A stale pid file from an unclean stop makes dockerd refuse to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  start_dockerd overlay2 || start_dockerd vfs || { echo "no docker engine could be started"; exit 1; }
fi
echo "engine: $(docker info --format 'docker://{{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupVersion}}') ($((SECONDS - t0))s)"

t1=$SECONDS
tests/images/build_busybox.sh
echo "test image ready ($((SECONDS - t1))s)"

# The in-pod client test runs the official Python client inside a container (Debian's python3-kubernetes).
t2=$SECONDS
command -v mmdebstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq mmdebstrap >/dev/null; }
tests/images/build_python_client.sh
echo "python client image ready ($((SECONDS - t2))s)"
