"""`labctl up`'s metrics server: its own identity, the node agents' token, the API server's front-proxy
token, the resolution from LABKIT_METRIC_RESOLUTION; none without nodes (orchestrator/lab/up.py)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.lab.home import LabHome
from tests.unit.lab.test_up_network import ctx, specs


def test_the_metrics_server_gets_its_credentials_and_resolution(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    argv = specs(ctx(tmp_path, runtime="simulated", metric_resolution="1s"))
    metrics, apiserver = argv["metrics-server"], argv["apiserver"]
    assert metrics[1:3] == ["-m", "orchestrator.metrics"]
    flags = dict(zip(metrics[3::2], metrics[4::2], strict=False))
    assert flags["--kubeconfig"] == str(home.kubeconfig_for("metrics-server"))
    assert flags["--kubelet-token-file"] == str(home.kubelet_client_token)
    assert flags["--requestheader-token-file"] == str(home.proxy_client_token)
    assert flags["--metric-resolution"] == "1s" and flags["--bind-address"] == "127.0.0.1"
    assert apiserver[apiserver.index("--proxy-client-token-file") + 1] == str(home.proxy_client_token)


def test_no_metrics_server_without_nodes(tmp_path: Path) -> None:
    assert "metrics-server" not in specs(ctx(tmp_path, nodes=0))
    assert "metrics-server" not in specs(ctx(tmp_path, skip=frozenset({"metrics-server"})))
