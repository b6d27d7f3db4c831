"""Older versions of a built-in resource, served by converting at the request's edge.

A resource is stored in one version (its row in ``RESOURCES``). Kubernetes serves some at more
than one: ``kubectl autoscale`` of kubectl 1.32 still writes ``autoscaling/v1``
HorizontalPodAutoscalers, which are stored as ``autoscaling/v2``. Everything behind the request
handler -- registry, strategy, admission, storage, watch cache, controllers -- knows only the
stored version; a request to another version is turned into one for the stored version here:

- the body of a create or update is converted to the stored version before the registry sees it;
- a patch is applied to the object *as the request's version shows it* (so a v1 merge patch of
  ``spec.targetCPUUtilizationPercentage`` means what it says), then converted back and written with
  the object's resourceVersion (a concurrent writer gets 409, as any update);
- every object in an answer (one object, a list's items, each watch event's object) is converted
  to the request's version; Tables and Status answers are left as they are.

Conversion is lossless both ways: what the old version cannot say travels in annotations, as
upstream's conversion keeps it (``autoscaling.alpha.kubernetes.io/metrics``, ...).

Kubernetes equivalent: k8s.io/apiserver/pkg/endpoints/handlers (the scope's Convertor, converting
between the request's and the storage version), pkg/apis/autoscaling/v1/conversion.go
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response, StreamingResponse

from orchestrator.api import strategicpatch as patching
from orchestrator.api.resources import CONVERTED_VERSIONS, ResourceInfo, by_group_resource
from orchestrator.apiserver.registry import autoscaling

__all__ = ["Conversion", "conversion_for"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Conversion:
    served: ResourceInfo  # the version the request names
    stored: ResourceInfo  # the version the registry, storage and watch know
    to_stored: Callable[[Mapping[str, Any]], Obj]
    from_stored: Callable[[Mapping[str, Any]], Obj]

    def request_body(self, body: Any) -> Any:
        """A create/update body at the served version → the stored version (others untouched:
        decoding then says what is wrong with them)."""
        if isinstance(body, dict) and body.get("apiVersion") in (self.served.api_version, None) \
                and body.get("kind") in (self.served.kind, None):
            return self.to_stored({**body, "apiVersion": self.served.api_version})
        return body

    def patched(self, stored: Mapping[str, Any], raw: bytes, *, content_type: str) -> Obj:
        """Apply a patch written against the served version to the stored object; the result at the
        stored version, carrying the resourceVersion the patch was applied to."""
        shown = self.from_stored(stored)
        result = patching.apply_patch(shown, raw, content_type=content_type, kind=self.served.kind)
        converted = self.to_stored(result)
        converted.setdefault("metadata", {})["resourceVersion"] = (stored.get("metadata") or {}).get(
            "resourceVersion")
        return converted

    def document(self, doc: Any) -> Any:
        """One answer's JSON at the served version."""
        if not isinstance(doc, dict):
            return doc
        if doc.get("kind") == self.stored.kind and doc.get("apiVersion") == self.stored.api_version:
            return self.from_stored(doc)
        if doc.get("kind") == self.stored.list_kind_name:
            return {**doc, "apiVersion": self.served.api_version,
                    "items": [self.from_stored(i) if isinstance(i, dict) else i for i in doc.get("items") or []]}
        return doc

    async def response(self, response: Response) -> Response:
        """The handler's answer with every object at the served version."""
        if isinstance(response, StreamingResponse):
            return StreamingResponse(self._events(response.body_iterator), status_code=response.status_code,
                                     headers=_headers(response), media_type=response.media_type)
        if not (response.media_type or "").startswith("application/json"):
            return response
        try:
            doc = json.loads(bytes(response.body))
        except ValueError:
            return response
        converted = self.document(doc)
        if converted is doc:
            return response
        return Response(json.dumps(converted, separators=(",", ":")).encode(), status_code=response.status_code,
                        headers=_headers(response), media_type=response.media_type)

    async def _events(self, lines: AsyncIterator[Any]) -> AsyncIterator[bytes]:
        buffer = b""
        async for chunk in lines:
            buffer += chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield self._event(line) + b"\n"
        if buffer:
            yield self._event(buffer)

    def _event(self, line: bytes) -> bytes:
        try:
            event = json.loads(line)
        except ValueError:
            return line
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            return line
        if event.get("type") == "BOOKMARK":  # only a resourceVersion: nothing to convert but the version
            converted = {**event["object"], "apiVersion": self.served.api_version}
            return json.dumps({**event, "object": converted}, separators=(",", ":")).encode()
        converted = self.document(event["object"])
        if converted is event["object"]:
            return line
        return json.dumps({**event, "object": converted}, separators=(",", ":")).encode()


def _headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}


_CONVERSIONS: dict[tuple[str, str, str], Conversion] = {}
for _served in CONVERTED_VERSIONS:
    if _served.group_resource == "horizontalpodautoscalers.autoscaling" and _served.version == "v1":
        _CONVERSIONS[(_served.group, _served.version, _served.plural)] = Conversion(
            _served, by_group_resource(_served.group_resource), autoscaling.from_v1, autoscaling.to_v1)
_missing = [f"{r.group_resource} {r.version}" for r in CONVERTED_VERSIONS
            if (r.group, r.version, r.plural) not in _CONVERSIONS]
if _missing:  # a served version nobody converts is a programming error: fail at import
    raise RuntimeError(f"versions without a conversion in apiserver/conversion.py: {', '.join(_missing)}")


def conversion_for(info: ResourceInfo) -> Conversion | None:
    """The conversion of a resource served at a version other than its stored one; None otherwise."""
    return _CONVERSIONS.get((info.group, info.version, info.plural))
