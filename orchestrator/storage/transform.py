"""The seam between the store and encryption at rest: what a value transformer must do.

The store knows nothing of keys or ciphers; the API server gives it a transformer
(orchestrator/apiserver/encryption.py) and the store calls it on every write and read of the
resources the transformer names.

Kubernetes equivalent: k8s.io/apiserver/pkg/storage/value/transformer.go (Transformer)
"""

from __future__ import annotations

from typing import Any, Protocol


class ValueTransformer(Protocol):
    """Turns an object into the document stored for it and back: encryption at rest
    (orchestrator/apiserver/encryption.py). Whatever ``to_storage`` returns is what the objects
    row, the outbox row and the Redis entry hold; it must keep ``metadata.name``, ``namespace``,
    ``uid`` and ``resourceVersion`` readable, because the store's SQL stamps and reads them.
    ``from_storage`` gets the stored document with the current ``resourceVersion`` stamped in."""

    @property
    def resources(self) -> tuple[str, ...]: ...

    def to_storage(self, resource: str, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]: ...

    def from_storage(self, resource: str, namespace: str, name: str, stored: dict[str, Any]) -> dict[str, Any]: ...
