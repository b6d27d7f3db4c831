"""API Priority and Fairness against the real API server: a level whose seats are all taken queues
its requests while other levels are served at once, and kubectl can see the levels.

The seats of ``global-default`` (the viewer's level) are taken by SelfSubjectAccessReview POSTs
whose bodies never arrive: each holds its seat until its connection closes, which makes a full
level without racing the clock.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from orchestrator.apiserver.flowcontrol import FLOW_SCHEMAS, PRIORITY_LEVELS
from tests.support.lab import Lab
from tests.support.skips import require_kubectl

SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _levels(lab: Lab) -> dict[str, dict[str, str]]:
    dump = lab.kubectl("get", "--raw", "/debug/api_priority_and_fairness/dump_priority_levels").stdout.splitlines()
    header = [c.strip() for c in dump[0].split(",")]
    return {row[0]: dict(zip(header, row, strict=True)) for row in ([c.strip() for c in line.split(",")]
                                                                     for line in dump[1:])}


@contextmanager
def _stalled_posts(lab: Lab, user: str, count: int) -> Iterator[list[ssl.SSLSocket]]:
    """``count`` POSTs as ``user`` that announce a body and never send it."""
    url = urlsplit(lab.server)
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    sockets: list[ssl.SSLSocket] = []
    try:
        for _ in range(count):
            raw = socket.create_connection((url.hostname, url.port), timeout=10)
            conn = context.wrap_socket(raw, server_hostname=url.hostname)
            conn.sendall((f"POST {SSAR} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {lab.tokens[user]}\r\n"
                          "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode())
            sockets.append(conn)
        yield sockets
    finally:
        for conn in sockets:
            conn.close()


async def _wait_for(lab: Lab, level: str, column: str, value: str) -> dict[str, str]:
    row: dict[str, str] = {}
    for _ in range(100):
        row = (await asyncio.to_thread(_levels, lab))[level]
        if row[column] == value:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"{level}: {column} never became {value}: {row}")


def _uids(lab: Lab, resource: str) -> dict[str, str]:
    listed = json.loads(lab.kubectl("get", resource, "-o", "json").stdout)["items"]
    return {o["metadata"]["uid"]: o["metadata"]["name"] for o in listed}


async def test_every_response_names_the_flow_schema_and_priority_level_kubectl_shows(lab: Lab) -> None:
    require_kubectl()
    schemas, levels = _uids(lab, "flowschemas"), _uids(lab, "prioritylevelconfigurations")
    assert set(schemas.values()) == {s.name for s in FLOW_SCHEMAS}
    assert set(levels.values()) == {lv.name for lv in PRIORITY_LEVELS}
    for user, schema, level in (("viewer", "global-default", "global-default"), ("admin", "exempt", "exempt"),
                                ("system:node:node-1", "system-node-high", "node-high"),
                                ("system:kube-controller-manager", "kube-controller-manager", "workload-high")):
        async with lab.client(user) as client:
            r = await client.get("/api/v1/nodes")
        assert r.status_code in (200, 403), r.text
        assert (schemas[r.headers["x-kubernetes-pf-flowschema-uid"]],
                levels[r.headers["x-kubernetes-pf-prioritylevel-uid"]]) == (schema, level), user


def test_kubectl_and_the_python_client_read_the_configuration_and_nobody_edits_it(lab: Lab) -> None:
    require_kubectl()
    table = lab.kubectl("get", "flowschemas").stdout.splitlines()
    assert table[0].split() == ["NAME", "PRIORITYLEVEL", "MATCHINGPRECEDENCE", "DISTINGUISHERMETHOD", "AGE",
                                "MISSINGPL"]
    # Sorted by name as kubectl lists; the columns as upstream prints them.
    fleets = next(line.split() for line in table if line.startswith("node-fleets "))
    assert fleets[:4] == ["node-fleets", "node-high", "450", "ByUser"] and fleets[-1] == "False", fleets
    levels = lab.kubectl("get", "prioritylevelconfigurations").stdout.splitlines()
    assert levels[0].split() == ["NAME", "TYPE", "NOMINALCONCURRENCYSHARES", "QUEUES", "HANDSIZE",
                                 "QUEUELENGTHLIMIT", "AGE"]
    rows = {line.split()[0]: line.split()[1:6] for line in levels[1:]}
    assert rows["exempt"] == ["Exempt", "<none>", "<none>", "<none>", "<none>"]
    assert rows["leader-election"] == ["Limited", "10", "<none>", "<none>", "50"]

    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api = k8s.FlowcontrolApiserverV1Api(k8s_config.new_client_from_config(str(lab.kubeconfig)))
    election = api.read_flow_schema("system-leader-election")
    assert election.spec.priority_level_configuration.name == "leader-election"
    assert election.spec.rules[0].resource_rules[0].verbs == ["get", "create", "update"]
    assert {pl.metadata.name: pl.spec.type for pl in api.list_priority_level_configuration().items}["exempt"] == "Exempt"

    # The configuration is code: no verb but get, list and watch, and the object stays.
    refused = lab.kubectl("delete", "flowschema", "global-default", check=False)
    assert refused.returncode != 0, refused.stdout
    assert "(MethodNotAllowed): DELETE is not supported on flowschemas (it serves get, list, watch)" in \
        refused.stderr, refused.stderr
    assert lab.kubectl("get", "flowschema", "global-default", "-o", "name").stdout.strip() == \
        "flowschema.flowcontrol.apiserver.k8s.io/global-default"


async def test_a_full_level_queues_its_requests_while_other_levels_are_served(lab: Lab) -> None:
    require_kubectl()
    seats = int((await asyncio.to_thread(_levels, lab))["global-default"]["Seats"])
    async with lab.client("viewer") as viewer, lab.client("system:node:node-1") as node, lab.client("admin") as admin:
        with _stalled_posts(lab, "viewer", seats):
            await _wait_for(lab, "global-default", "ExecutingRequests", str(seats))
            queued = asyncio.ensure_future(viewer.get("/api/v1/namespaces/default/pods"))
            await _wait_for(lab, "global-default", "WaitingRequests", "1")
            # Other levels do not wait: a node's Lease read, an admin's list.
            lease = await asyncio.wait_for(node.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"), 5)
            listed = await asyncio.wait_for(admin.get("/api/v1/namespaces/default/pods"), 5)
            assert lease.status_code in (200, 403) and listed.status_code == 200
            assert not queued.done()
        # The stalled clients went away: their seats go to the queued request.
        r = await asyncio.wait_for(queued, 20)
    assert r.status_code == 200, r.text
    row = await _wait_for(lab, "global-default", "ExecutingRequests", "0")
    assert row["WaitingRequests"] == "0"
