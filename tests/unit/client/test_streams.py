"""The Python exec client's small pure parts: exit codes from Status, WebSocket URLs from a kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api.errors import Forbidden
from orchestrator.api.streaming import exit_status, failure_status
from orchestrator.client.streams import StreamTarget, exit_code_of


def test_exit_codes_come_from_the_error_channel_status() -> None:
    assert exit_code_of(exit_status(["true"], 0)) == 0
    assert exit_code_of(exit_status(["sh", "-c", "exit 42"], 42)) == 42


def test_a_failure_that_is_not_an_exit_code_is_raised_as_its_error() -> None:
    with pytest.raises(Forbidden, match="nope"):
        exit_code_of(failure_status("nope", reason="Forbidden", code=403))


def test_the_target_comes_from_the_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
        "clusters: [{name: lab, cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: me, user: {token: abc}}]\n"
        "contexts: [{name: lab, context: {cluster: lab, user: me}}]\n")
    target = StreamTarget.from_kubeconfig(kubeconfig)
    assert target.headers == {"Authorization": "Bearer abc"}
    assert target.ssl_context is not None and not target.ssl_context.check_hostname
    assert target.url("/api/v1/namespaces/ns/pods/web/exec", [("command", "ls"), ("command", "-l /")]) == \
        "wss://127.0.0.1:6443/api/v1/namespaces/ns/pods/web/exec?command=ls&command=-l+%2F"
