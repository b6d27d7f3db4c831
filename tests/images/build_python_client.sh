#!/usr/bin/env bash
# Builds the optional test image `labkit/python-client:1.0`: Debian minbase with python3 and
# Debian's python3-kubernetes (the official client), for the test that runs
# `config.load_incluster_config()` inside a pod (tests/integration/nodeagent/test_in_pod_credentials.py;
# skipped without the image). Registries cannot be reached on the lab machines, so the root
# filesystem is made with mmdebstrap from the Debian mirror and imported. About a minute.
# Idempotent: does nothing when the image exists, unless LABKIT_REBUILD_IMAGE=1.
set -euo pipefail

IMAGE="${LABKIT_PYTHON_IMAGE:-labkit/python-client:1.0}"

if [ "${LABKIT_REBUILD_IMAGE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE already present"
  exit 0
fi
command -v mmdebstrap >/dev/null || apt-get install -y -q mmdebstrap

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mmdebstrap --variant=minbase --include=python3-kubernetes \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' stable "$work/root"
tar -C "$work/root" -c . | docker import - "$IMAGE"
echo "built $IMAGE"
