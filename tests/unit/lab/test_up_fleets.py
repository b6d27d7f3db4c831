"""`labctl up`'s node layout and port allocation: fleets for big simulated labs, no port handed out twice."""

from __future__ import annotations

import random

import pytest

from orchestrator.lab.embedded import ports
from orchestrator.lab.embedded.ports import ephemeral_range, free_port, port_is_free
from orchestrator.lab.up import fleets, node_component_names, uses_fleets


def test_a_thousand_simulated_nodes_run_in_four_fleets_numbered_as_one() -> None:
    assert fleets(1000) == [("fleet-1", 1, 250), ("fleet-2", 251, 250), ("fleet-3", 501, 250), ("fleet-4", 751, 250)]


def test_nodes_are_split_evenly_across_fleets() -> None:
    layout = fleets(501)
    assert [count for _, _, count in layout] == [167, 167, 167]
    assert sum(count for _, _, count in layout) == 501
    assert layout[-1][1] + layout[-1][2] - 1 == 501


def test_small_simulated_labs_and_docker_labs_keep_one_process_per_node() -> None:
    assert not uses_fleets(nodes=3, runtime="simulated")
    assert node_component_names(nodes=3, runtime="simulated") == ["node-1", "node-2", "node-3"]
    assert node_component_names(nodes=20, runtime="docker")[-1] == "node-20"
    assert node_component_names(nodes=20, runtime="simulated") == ["fleet-1"]


def test_free_ports_are_never_handed_out_twice_and_lie_below_the_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(p < low for p in ports)
    assert all(port_is_free(p) for p in ports[:20])


def test_a_remembered_port_a_lab_will_bind_later_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # The API server's remembered port, free until it starts, must not go to PostgreSQL started first.
    # Two ports free now and not handed out by this process yet (other tests here hand out many):
    # `remembered + 1` was once assumed free and was not, under a full CI run.
    low, _ = ephemeral_range()
    usable = [p for p in random.sample(range(20000, low), 200) if p not in ports._handed_out and port_is_free(p)]
    remembered, other = usable[:2]
    picks = iter([remembered, remembered, other])
    monkeypatch.setattr(ports.random, "randrange", lambda *a: next(picks))
    assert ports.reserve(remembered) == remembered
    assert free_port() == other
