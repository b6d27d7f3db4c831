"""The contract between the generic registry and one resource: its *strategy*.

The verbs (create, get, list, watch, update, patch, delete, the status and scale subresources)
are the same for every resource and live once, in ``registry/generic.py``. What differs per
resource is small and is named here with Kubernetes' own words, so a reader can put this file
beside ``k8s.io/apiserver/pkg/registry/rest/{create,update,delete}.go``:

    create   decode → prepare_for_create → canonicalize → (system fields) → validate
             → warnings_on_create → store
    update   decode → prepare_for_update(new, old) → canonicalize → validate + validate_update
             → warnings_on_update → generation bump if spec_changed → store
    status   prepare_for_status_update(new, old): only the status is taken from the body
    scale    to_scale(obj) / with_replicas(obj, n): the autoscaling/v1 Scale view
    delete   graceful_delete_seconds(obj, requested): keep the object with a deletionTimestamp
             while someone (a node agent) finishes it, or delete at once (None)
    print    columns() and row(obj, now): the server-side Table kubectl prints

Every method receives plain JSON documents (dicts) and changes them in place or returns field
errors; none does I/O. A strategy that needs to read other objects (a namespace's contents,
a PodDisruptionBudget) gets them from the registry that calls it, never from storage.

``BaseStrategy`` implements every step the generic way (decode with the kind's model, no
defaults, no extra validation, status kept on update when there is a status subresource,
NAME/AGE columns); a resource family's module subclasses it and overrides what it needs.

Kubernetes equivalent: k8s.io/apiserver/pkg/registry/rest (RESTCreateStrategy,
RESTUpdateStrategy, RESTDeleteStrategy, TableConvertor), pkg/registry/*/strategy.go
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from orchestrator.api.errors import Cause
from orchestrator.api.resources import ResourceInfo

Obj = dict[str, Any]
Cell = Any
Row = tuple[list[Cell], list[dict[str, Any]] | None]


@runtime_checkable
class Strategy(Protocol):
    """What one resource adds to the generic verbs. Each method's comment is its contract."""

    info: ResourceInfo
    # metadata.generation is kept (1 at create, +1 when spec_changed); else it is dropped.
    has_generation: bool
    # A DELETE of an object that still holds others (a namespace) marks it Terminating instead.
    empties_before_delete: bool
    # A DELETE that removed the object answers it (pods) rather than a Status.
    returns_deleted_object: bool

    def decode(self, body: Any, *, field_validation: str) -> tuple[Obj, list[str]]:
        """Check apiVersion/kind against ``info`` (default them when absent), type-check the
        fields, and drop unknown ones (``Strict`` raises BadRequest, ``Warn`` returns a warning
        per field, ``Ignore`` drops silently). Returns a new document; never mutates ``body``."""
        ...

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        """Defaults and the status a new object starts with (clients do not choose it). In place."""
        ...

    def canonicalize(self, obj: Obj) -> None:
        """Rewrite equal values to one spelling ("0.5" CPU → "500m"). In place; idempotent."""
        ...

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        """Every problem of the whole object, with field paths (→ 422 Invalid). Metadata
        included: the generic registry does not validate names, labels or owners itself."""
        ...

    def warnings_on_create(self, obj: Mapping[str, Any]) -> list[str]:
        """Deprecations and doubtful-but-valid settings, sent as ``Warning`` headers."""
        ...

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        """Defaults, and what an update of the main resource may not change (the status,
        when the resource has a status subresource). In place on ``new``."""
        ...

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        """What may not change from ``old`` to ``new`` (immutable fields). ``validate`` runs too."""
        ...

    def warnings_on_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
        ...

    def spec_changed(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> bool | None:
        """Whether ``metadata.generation`` moves by one; None: this kind has no generation."""
        ...

    def prepare_for_status_update(self, new: Obj, old: Mapping[str, Any]) -> Obj:
        """The object to store for a write to ``/status``: ``old`` with ``new``'s status (and
        nothing else of ``new``). Returns the result."""
        ...

    def to_scale(self, obj: Mapping[str, Any]) -> Obj:
        """The autoscaling/v1 Scale of ``obj`` (only for resources with a ``scale`` subresource)."""
        ...

    def with_replicas(self, obj: Obj, replicas: int) -> None:
        """Set the replica count a Scale write asks for. In place."""
        ...

    def graceful_delete_seconds(self, obj: Mapping[str, Any], requested: int | None) -> int | None:
        """How long a DELETE keeps ``obj`` (with a deletionTimestamp) before it may go; None
        or 0: delete at once (finalizers may still keep it)."""
        ...

    def columns(self) -> list[dict[str, Any]]:
        """The Table's columnDefinitions (priority 1 = only with ``-o wide``)."""
        ...

    def row(self, obj: Mapping[str, Any], now: datetime) -> Row:
        """One Table row: the cells in column order and the row's conditions (or None)."""
        ...


# --- subresources that are not views of the object (pods/binding, pods/eviction, serviceaccounts/token)


class SubresourceRequest(Protocol):
    """What a subresource handler is given: the request, already authenticated and authorized."""

    method: str  # "POST", "GET", ...
    namespace: str | None
    name: str
    body: Any  # the decoded JSON/YAML body (None for GET)
    user: Any  # orchestrator.apiserver.auth.User: who asks
    query: Mapping[str, str]
    dry_run: bool


class SubresourceHandler(Protocol):
    """One subresource that acts rather than shows (Kubernetes: a separate REST storage such as
    BindingREST, EvictionREST, TokenREST). ``registry`` is the generic registry (it reads and
    writes objects of any resource). Returns the HTTP status code and the JSON body to send."""

    async def __call__(self, registry: Any, request: SubresourceRequest) -> tuple[int, dict[str, Any]]:
        ...
