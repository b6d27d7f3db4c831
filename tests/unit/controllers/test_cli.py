"""`labctl controllers` renders the gRPC answers as a table."""

from __future__ import annotations

from rich.console import Console

from orchestrator.cli.controllers import render
from orchestrator.proto import controllers_pb2


def test_table_shows_role_queue_counters_and_last_error() -> None:
    status = controllers_pb2.GetStatusResponse(identity="cm-1", leader=False, leader_election=True,
                                               leader_identity="cm-2", controllers=["replicaset"])
    listed = controllers_pb2.ListControllersResponse(controllers=[controllers_pb2.ControllerInfo(
        name="replicaset", workers=5, queue_depth=2, reconciles=40, errors=1, last_error="Conflict: stale",
        last_error_key="ns/web", last_sync_unix=990.0, retries=1)])
    console = Console(record=True, width=200)
    console.print(render(status, listed, now=1000.0))
    text = console.export_text()
    assert "cm-1: standby (lease held by cm-2)" in text
    row = next(line for line in text.splitlines() if "replicaset" in line)
    assert row.split("│")[1:9] == [" replicaset ", "       5 ", "     2 ", "         0 ", "       0 ",
                                   "         40 ", "      1 ", "       1 "]
    assert "10s ago" in row and "ns/web: Conflict: stale" in row
