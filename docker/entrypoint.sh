#!/bin/sh
# The orchestrator image's entrypoint: the first argument names the component, the rest are its flags.
#
#   docker run --rm labkit/orchestrator:compose apiserver --help
#
# Each component is its own process (as `labctl up` runs them), here each in its own container.
set -e
component="${1:-labctl}"
[ "$#" -gt 0 ] && shift
case "$component" in
  apiserver)   exec python -m orchestrator.apiserver "$@" ;;
  relay)       exec python -m orchestrator.storage.relay "$@" ;;
  scheduler)   exec python -m orchestrator.scheduler "$@" ;;
  controllers) exec python -m orchestrator.controllers "$@" ;;
  nodeagent)   exec python -m orchestrator.nodeagent "$@" ;;
  credentials) exec python /opt/labkit/docker/credentials.py "$@" ;;
  labctl)      exec python -m orchestrator.cli.main "$@" ;;
  *)           exec "$component" "$@" ;;
esac
