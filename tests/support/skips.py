"""Skips for tests that need kubectl or a Docker engine, which CI turns into failures
(LABKIT_REQUIRE_KUBECTL=1, LABKIT_REQUIRE_DOCKER=1) so that a missing tool never passes silently.

Kubernetes equivalent: test/e2e/framework/skipper/skipper.go
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_kubectl() -> None:
    if shutil.which("kubectl") is None:
        if os.environ.get("LABKIT_REQUIRE_KUBECTL") == "1":
            pytest.fail("kubectl is not installed, and LABKIT_REQUIRE_KUBECTL=1 says these tests must run")
        pytest.skip(reason="kubectl is not installed (set LABKIT_REQUIRE_KUBECTL=1 to make this a failure)")


def require_docker() -> None:
    """Skip without a Docker engine and the test image, unless LABKIT_REQUIRE_DOCKER=1 makes it a failure."""
    required = os.environ.get("LABKIT_REQUIRE_DOCKER") == "1"
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get("labkit/busybox:1.0")
        client.close()
    except Exception as err:  # any failure means: no usable engine here
        message = f"no Docker engine with labkit/busybox:1.0 ({err}); .ci/docker.sh prepares one"
        if required:
            pytest.fail(message + " (LABKIT_REQUIRE_DOCKER=1 says the Docker tests must run)")
        pytest.skip(reason=message + " (set LABKIT_REQUIRE_DOCKER=1 to make this a failure)")
