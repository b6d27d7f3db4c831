"""Serving autoscaling/v1 by conversion at the edge (apiserver/conversion.py): bodies in, answers and
watch events out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import Response, StreamingResponse

from orchestrator.api.resources import CONVERTED_VERSIONS, lookup
from orchestrator.apiserver.conversion import conversion_for

V1 = CONVERTED_VERSIONS[0]
CONVERSION = conversion_for(V1)
STORED = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                   "minReplicas": 1, "maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {
                       "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
          "status": {"currentReplicas": 1, "desiredReplicas": 1}}


def test_only_the_older_version_is_converted() -> None:
    assert CONVERSION is not None and CONVERSION.stored.version == "v2"
    stored_info = lookup("autoscaling", "horizontalpodautoscalers")
    assert stored_info is not None and conversion_for(stored_info) is None


def test_a_v1_body_is_stored_as_v2() -> None:
    assert CONVERSION is not None
    body = CONVERSION.request_body({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
                                    "metadata": {"name": "web"},
                                    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                                             "maxReplicas": 3, "targetCPUUtilizationPercentage": 60}})
    assert body["apiVersion"] == "autoscaling/v2"
    assert body["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60


def test_a_v1_merge_patch_means_what_it_says_and_keeps_the_resource_version() -> None:
    assert CONVERSION is not None
    patched = CONVERSION.patched(STORED, b'{"spec": {"targetCPUUtilizationPercentage": 70}}',
                                 content_type="application/merge-patch+json")
    assert patched["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert patched["metadata"]["resourceVersion"] == "7"


def test_objects_lists_and_watch_events_are_answered_at_v1() -> None:
    assert CONVERSION is not None

    async def run() -> tuple[Any, Any, list[Any]]:
        one = await CONVERSION.response(Response(json.dumps(STORED).encode(), media_type="application/json"))
        listed = await CONVERSION.response(Response(json.dumps(
            {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {},
             "items": [STORED]}).encode(), media_type="application/json"))

        async def events() -> AsyncIterator[bytes]:
            yield json.dumps({"type": "ADDED", "object": STORED}).encode() + b"\n"
            yield json.dumps({"type": "BOOKMARK", "object": {"kind": "HorizontalPodAutoscaler",
                                                             "apiVersion": "autoscaling/v2",
                                                             "metadata": {"resourceVersion": "9"}}}).encode()
            yield b"\n"

        streamed = await CONVERSION.response(StreamingResponse(events(), media_type="application/json"))
        assert isinstance(streamed, StreamingResponse)
        lines = [json.loads(chunk) async for chunk in streamed.body_iterator]
        return json.loads(bytes(one.body)), json.loads(bytes(listed.body)), lines

    one, listed, lines = asyncio.run(run())
    assert one["apiVersion"] == "autoscaling/v1" and one["spec"]["targetCPUUtilizationPercentage"] == 50
    assert listed["apiVersion"] == "autoscaling/v1" and listed["items"][0]["apiVersion"] == "autoscaling/v1"
    assert lines[0]["object"]["spec"]["targetCPUUtilizationPercentage"] == 50
    assert lines[1] == {"type": "BOOKMARK", "object": {"kind": "HorizontalPodAutoscaler",
                                                       "apiVersion": "autoscaling/v1",
                                                       "metadata": {"resourceVersion": "9"}}}
