"""Content negotiation: read the ``Accept`` header and decide the shape of the answer.

The same URL answers in different shapes depending on what the client asks for:

======================================================================  ==============================
Accept clause                                                           answer
======================================================================  ==============================
``application/json``, ``*/*``, none                                     the object / list as stored
``application/json;as=Table;v=v1;g=meta.k8s.io`` (or ``v1beta1``)       a Table (``kubectl get``)
``application/json;as=PartialObjectMetadata[List];v=v1;g=meta.k8s.io``  metadata only (client-go
                                                                        metadata informers)
``application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io``  aggregated discovery
``application/yaml``                                                    YAML
======================================================================  ==============================

The header is a preference list: clauses are ordered by ``q`` (default 1, stable for ties, more
specific before wildcards), and the first clause this server can produce wins, exactly like
kube-apiserver. Clauses it cannot produce are skipped rather than refused: protobuf
(``application/vnd.kubernetes.protobuf``), which kubectl lists first for some requests, and any
``as=`` transformation it does not know. When nothing matches the answer is plain JSON, never a
406, because every client this server meets can read JSON.

Worked example, what ``kubectl get pods`` sends::

    application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json

All three clauses have q=1, so they stay in order; the first is producible -> a ``meta.k8s.io/v1``
Table.

Kubernetes equivalent: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/negotiation
(NegotiateOutputMediaType and the ``as``/``g``/``v`` parameters of handlers/response.go).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

JSON = "application/json"
YAML = "application/yaml"

META_GROUP = "meta.k8s.io"
DISCOVERY_GROUP = "apidiscovery.k8s.io"
_META_VERSIONS = ("v1", "v1beta1")
_DISCOVERY_VERSIONS = ("v2", "v2beta1")


@dataclass(frozen=True)
class Negotiated:
    """The shape the response should take. The default value is plain JSON.

    An endpoint that cannot apply the chosen transformation (a Table asked of a discovery
    document, aggregated discovery asked of ``/api/v1``) answers plain JSON with Content-Type
    ``application/json``: that is the last clause of every real client's header.
    ``content_type`` is for the transformed answer.
    """

    as_table: bool = False
    table_version: str = f"{META_GROUP}/v1"
    as_partial_object_metadata: bool = False
    partial_object_metadata_version: str = f"{META_GROUP}/v1"
    aggregated_discovery: str | None = None  # "v2" or "v2beta1" when asked for
    yaml: bool = False
    content_type: str = field(default=JSON)  # what to send back as Content-Type


@dataclass(frozen=True)
class _Clause:
    media_type: str  # lower-cased "type/subtype"
    params: dict[str, str]
    q: float
    position: int

    @property
    def specificity(self) -> int:
        """2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*`` (higher sorts first at equal q)."""
        main, _, sub = self.media_type.partition("/")
        if main == "*":
            return 0
        return 1 if sub == "*" else 2


def _parse(accept: str) -> list[_Clause]:
    clauses: list[_Clause] = []
    for position, raw in enumerate(accept.split(",")):
        parts = [p.strip() for p in raw.split(";")]
        media_type = parts[0].lower()
        if not media_type:
            continue
        if "/" not in media_type:
            # Go's parser reads a bare "*" as "*/*"; anything else bare is not a media range.
            if media_type != "*":
                continue
            media_type = "*/*"
        params: dict[str, str] = {}
        q = 1.0
        for part in parts[1:]:
            name, sep, value = part.partition("=")
            if not sep:
                continue
            name = name.strip().lower()
            value = value.strip().strip('"')
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            else:
                params[name] = value
        clauses.append(_Clause(media_type, params, q, position))
    # q first, then specificity; position keeps the client's order for ties (a stable sort).
    clauses.sort(key=lambda c: (-c.q, -c.specificity, c.position))
    return [c for c in clauses if c.q > 0]


def _accepts_json(media_type: str) -> bool:
    return media_type in (JSON, "application/*", "*/*")


def _choose(clause: _Clause) -> Negotiated | None:
    """What this clause asks for, or None when the server cannot produce it."""
    as_ = clause.params.get("as")
    if as_ is None:
        if _accepts_json(clause.media_type):
            return Negotiated()
        if clause.media_type == YAML:
            return Negotiated(yaml=True, content_type=YAML)
        return None  # protobuf, text/html, ...: skip, a later clause may do
    if clause.media_type != JSON:
        # Transformations are served as JSON only (no protobuf, no YAML).
        return None
    group, version = clause.params.get("g", ""), clause.params.get("v", "")
    content_type = f"{JSON};as={as_};v={version};g={group}"
    if as_ == "Table" and group == META_GROUP and version in _META_VERSIONS:
        return Negotiated(as_table=True, table_version=f"{group}/{version}", content_type=content_type)
    if (
        as_ in ("PartialObjectMetadata", "PartialObjectMetadataList")
        and group == META_GROUP
        and version in _META_VERSIONS
    ):
        return Negotiated(
            as_partial_object_metadata=True,
            partial_object_metadata_version=f"{group}/{version}",
            content_type=content_type,
        )
    if as_ == "APIGroupDiscoveryList" and group == DISCOVERY_GROUP and version in _DISCOVERY_VERSIONS:
        return Negotiated(
            aggregated_discovery=version,
            content_type=f"{JSON};g={group};v={version};as={as_}",
        )
    return None


@lru_cache(maxsize=256)  # clients send the same few headers; a Negotiated is immutable
def negotiate(accept: str | None) -> Negotiated:
    """The first clause of ``accept`` (by preference) this server can produce; plain JSON if none.

    >>> negotiate("application/vnd.kubernetes.protobuf,application/json").content_type
    'application/json'
    >>> negotiate("application/json;as=Table;v=v1;g=meta.k8s.io,application/json").as_table
    True
    """
    if not accept:
        return Negotiated()
    for clause in _parse(accept):
        chosen = _choose(clause)
        if chosen is not None:
            return chosen
    return Negotiated()
