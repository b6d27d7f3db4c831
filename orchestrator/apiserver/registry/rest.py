"""The steps every create and update goes through, in Kubernetes' order, with the resource's
strategy filling in what is particular to it.

    prepare_create(strategy, body, namespace=..., field_validation=...)
        1. decode        apiVersion/kind against the URL (defaulted when absent: the Python
                         client sends none), field types, unknown fields per fieldValidation
                         (Strict → 400, Warn → a warning each, Ignore)          → 400 BadRequest
        2. namespace     the body's namespace must equal the URL's             → 400 BadRequest
        3. prepare       strategy.prepare_for_create: defaults, the starting status
        4. canonicalize  quantities ("0.5" CPU is stored as "500m")
        5. system        name from generateName, uid, creationTimestamp, generation 1
        6. validate      every problem with its field path                    → 422 Invalid

    prepare_update(strategy, old, new, field_validation=..., subresource=None|"status"|"scale")
        the same steps, then what an update may not do (uid, name, the strategy's immutable
        fields). The main resource keeps the old status (strategy.prepare_for_update); the
        ``status`` subresource takes only the status from the body; ``scale`` takes only
        ``spec.replicas`` from an autoscaling/v1 Scale. ``metadata.generation`` moves by one
        when the strategy says the spec changed.

The resourceVersion of the body is passed through untouched: comparing it with the stored one
(409 Conflict) is the store's job.

Kubernetes equivalent: k8s.io/apiserver/pkg/registry/rest/{create,update}.go (BeforeCreate,
BeforeUpdate), k8s.io/apiserver/pkg/endpoints/handlers/{create,update}.go
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api.errors import BadRequest
from orchestrator.api.resources import ResourceInfo
from orchestrator.apiserver.registry.strategy import Strategy
from orchestrator.apiserver.validation import (
    FieldErrors,
    Prepared,
    carry_system_fields,
    check_field_validation,
    check_identity,
    decode,
    int32,
    non_negative,
    rfc3339,
    set_or_pop,
)

_SYSTEM_METADATA = ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "resourceVersion")


def prepare_create(strategy: Strategy, obj: Any, *, namespace: str | None, field_validation: str | None,
                   now: datetime | None = None) -> Prepared:
    """The object to store for a POST to the strategy's collection (in ``namespace``)."""
    info = strategy.info
    directive = check_field_validation(field_validation, options_kind="CreateOptions")
    body, warnings = strategy.decode(obj, field_validation=directive)
    meta = body.setdefault("metadata", {})
    if info.namespaced:
        if meta.get("namespace") and namespace and meta["namespace"] != namespace:
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        if namespace:
            meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)  # cluster-scoped objects have none (rest.BeforeCreate)
    if meta.get("resourceVersion"):
        raise BadRequest("resourceVersion should not be set on objects to be created")
    moment = now or datetime.now(UTC)
    strategy.prepare_for_create(body, now=moment)
    strategy.canonicalize(body)
    if meta.get("generateName") and not meta.get("name"):
        meta["name"] = names.generate_name(meta["generateName"])
    for system in _SYSTEM_METADATA:
        meta.pop(system, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = rfc3339(moment)
    if strategy.has_generation:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    _raise_invalid(info, strategy.validate(body), meta)
    return Prepared(body, warnings + strategy.warnings_on_create(body))


def prepare_update(strategy: Strategy, old: Mapping[str, Any], new: Any, *, field_validation: str | None,
                   subresource: str | None = None, now: datetime | None = None) -> Prepared:
    """The object to store for a PUT (or a PATCH, after the patch is applied) of ``old``.

    ``subresource="status"``: only ``new["status"]`` is taken. ``subresource="scale"``: ``new`` is
    an autoscaling/v1 Scale and only its ``spec.replicas`` is taken; the result is the full object.
    """
    info = strategy.info
    directive = check_field_validation(field_validation, options_kind="UpdateOptions")
    if subresource not in (None, "status", "scale") or (subresource and subresource not in info.subresources):
        raise BadRequest(f"the server does not support updating {info.plural}/{subresource}")
    if subresource == "scale":
        return _prepare_scale(strategy, old, new, directive)
    body, warnings = strategy.decode(new, field_validation=directive)
    meta = body.setdefault("metadata", {})
    check_identity(info, old, meta)
    old_meta = old.get("metadata") or {}
    errs = FieldErrors()
    if subresource == "status":
        carry_system_fields(errs, old_meta, meta)
        result = strategy.prepare_for_status_update(body, old)
    else:
        strategy.prepare_for_update(body, old, now=now or datetime.now(UTC))
        # Canonical before comparing with the stored object, which is canonical ("0.5" == "500m").
        strategy.canonicalize(body)
        carry_system_fields(errs, old_meta, meta)
        result = body
        errs.extend(strategy.validate_update(result, old))
    errs.extend(strategy.validate(result))
    _raise_invalid(info, errs.causes, meta)
    strategy.canonicalize(result)  # a status update may carry node capacity
    _bump_generation(strategy, old, result)
    return Prepared(result, warnings + ([] if subresource else strategy.warnings_on_update(result, old)))


def _prepare_scale(strategy: Strategy, old: Mapping[str, Any], new: Any, directive: str) -> Prepared:
    info = strategy.info
    scale_info = ResourceInfo("autoscaling", "v1", info.plural, info.singular, "Scale", info.namespaced)
    body, warnings = decode(scale_info, new, field_validation=directive)
    meta = body.setdefault("metadata", {})
    check_identity(info, old, meta)
    result = copy.deepcopy(dict(old))
    replicas = (body.get("spec") or {}).get("replicas", 0)
    errs = FieldErrors()
    non_negative(errs, "spec.replicas", replicas)
    int32(errs, "spec.replicas", replicas)
    errs.raise_if_any("Scale", "autoscaling", meta["name"] or "")
    strategy.with_replicas(result, replicas)
    set_or_pop(result["metadata"], "resourceVersion", meta.get("resourceVersion"))
    _bump_generation(strategy, old, result)
    return Prepared(result, warnings)


def _bump_generation(strategy: Strategy, old: Mapping[str, Any], new: dict[str, Any]) -> None:
    changed = strategy.spec_changed(new, old)
    if changed is None:
        return
    generation = (old.get("metadata") or {}).get("generation") or 1
    new["metadata"]["generation"] = generation + 1 if changed else generation


def _raise_invalid(info: ResourceInfo, causes: list[Any], meta: Mapping[str, Any]) -> None:
    errs = FieldErrors()
    errs.extend(causes)
    errs.raise_if_any(info.kind, info.group, meta.get("name") or "")
