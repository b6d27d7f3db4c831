"""apps/v1 StatefulSets and ControllerRevisions.

StatefulSet:

- create/update defaults (SetDefaults_StatefulSet): ``replicas`` 1, ``podManagementPolicy``
  OrderedReady, ``updateStrategy`` RollingUpdate with partition 0, ``revisionHistoryLimit`` 10,
  ``persistentVolumeClaimRetentionPolicy`` Retain/Retain, the template's pod defaults, each
  volumeClaimTemplate's ``volumeMode: Filesystem`` and ``status.phase: Pending``;
- validate: ``spec.serviceName`` (required here: the pods' hostname and subdomain come from it),
  a non-empty selector that matches the template's labels (422 naming
  ``spec.template.metadata.labels``), the template as a pod spec whose volume mounts may name the
  claim templates, ``restartPolicy: Always``, the pod management policy and update strategy, every
  claim template as a claim (accessModes, resources.requests.storage);
- update: only replicas, ordinals, template, updateStrategy, revisionHistoryLimit,
  persistentVolumeClaimRetentionPolicy and minReadySeconds may change (upstream's sentence);
- the ``status`` and ``scale`` subresources (``kubectl scale sts``);
- kubectl's Table: NAME READY AGE (CONTAINERS IMAGES with -o wide).

ControllerRevision: an immutable snapshot (``data``, ``revision``) the StatefulSet controller
writes per template revision; Table NAME CONTROLLER REVISION AGE.

Kubernetes equivalent: pkg/registry/apps/statefulset/strategy.go, pkg/apis/apps/v1/defaults.go
(SetDefaults_StatefulSet), pkg/apis/apps/validation/validation.go (ValidateStatefulSetSpec,
ValidateControllerRevision), pkg/registry/apps/controllerrevision/strategy.go
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause, Invalid
from orchestrator.api.printing import (
    _AGE,
    _NAME,
    _TEMPLATE_COLUMNS,
    Cell,
    _column,
    _layout_containers,
    _since,
)
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.apps import _ReplicatedStrategy
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.storage import validate_claim_spec
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import (
    FieldErrors,
    default_pod_spec,
    int32,
    non_negative,
    validate_labels,
    validate_object_meta,
    validate_pod_spec,
)

__all__ = ["ControllerRevisionStrategy", "StatefulSetStrategy", "default_statefulset", "validate_statefulset_spec"]

POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
UPDATE_STRATEGIES = ("RollingUpdate", "OnDelete")
RETENTION_POLICIES = ("Retain", "Delete")
# ValidateStatefulSetUpdate: what an update may change, in upstream's words.
_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def default_statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"], for_pod=False)
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {}).setdefault("phase", "Pending")


def _validate_claim_templates(errs: FieldErrors, claims: Any, path: str) -> list[str]:
    out: list[str] = []
    for i, claim in enumerate(claims or []):
        claim_path = f"{path}[{i}]"
        if not isinstance(claim, Mapping):
            errs.invalid(claim_path, claim, "must be an object")
            continue
        meta = claim.get("metadata") or {}
        name = meta.get("name")
        if not name:
            errs.required(f"{claim_path}.metadata.name")
        else:
            for msg in names.dns1123_label(name):
                errs.invalid(f"{claim_path}.metadata.name", name, msg)
            out.append(str(name))
        validate_labels(errs, meta.get("labels") or {}, f"{claim_path}.metadata.labels")
        validate_claim_spec(errs, claim.get("spec") or {}, f"{claim_path}.spec")
    return out


def _validate_update_strategy(errs: FieldErrors, strategy: Mapping[str, Any], path: str) -> None:
    kind = strategy.get("type")
    if kind not in UPDATE_STRATEGIES:
        errs.not_supported(f"{path}.type", kind, UPDATE_STRATEGIES)
        return
    rolling = strategy.get("rollingUpdate")
    if kind == "OnDelete":
        if rolling is not None:
            errs.invalid(f"{path}.rollingUpdate", rolling, "only allowed for updateStrategy 'RollingUpdate'")
        return
    if isinstance(rolling, Mapping):
        non_negative(errs, f"{path}.rollingUpdate.partition", rolling.get("partition"))
        int32(errs, f"{path}.rollingUpdate.partition", rolling.get("partition"))


def validate_statefulset_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    service = spec.get("serviceName")
    if not service:
        errs.required(f"{path}.serviceName", "the name of the (headless) Service that gives the pods their "
                                             "network identity, e.g. serviceName: nginx")
    else:
        for msg in names.dns1123_label(service):
            errs.invalid(f"{path}.serviceName", service, msg)
    policy = spec.get("podManagementPolicy")
    if policy not in POD_MANAGEMENT_POLICIES:
        errs.not_supported(f"{path}.podManagementPolicy", policy, POD_MANAGEMENT_POLICIES)
    _validate_update_strategy(errs, spec.get("updateStrategy") or {}, f"{path}.updateStrategy")
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    for key in ("whenDeleted", "whenScaled"):
        if retention.get(key) not in RETENTION_POLICIES:
            errs.not_supported(f"{path}.persistentVolumeClaimRetentionPolicy.{key}", retention.get(key),
                               RETENTION_POLICIES)
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        non_negative(errs, f"{path}.{key}", spec.get(key))
        int32(errs, f"{path}.{key}", spec.get(key))
    start = (spec.get("ordinals") or {}).get("start")
    non_negative(errs, f"{path}.ordinals.start", start)
    claims = _validate_claim_templates(errs, spec.get("volumeClaimTemplates"), f"{path}.volumeClaimTemplates")

    selector: LabelSelector | None = None
    raw_selector = spec.get("selector")
    if raw_selector is None:
        errs.required(f"{path}.selector")
    else:
        try:
            selector = LabelSelector.from_structured(raw_selector, field_path=f"{path}.selector")
        except Invalid as err:
            errs.extend(err.causes)
        if not raw_selector.get("matchLabels") and not raw_selector.get("matchExpressions"):
            errs.invalid(f"{path}.selector", raw_selector, "empty selector is invalid for statefulset")
            selector = None
    template = spec.get("template")
    if not isinstance(template, Mapping):
        errs.required(f"{path}.template")
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    validate_labels(errs, labels, f"{path}.template.metadata.labels")
    if selector is not None and not selector.matches(labels):
        errs.invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`")
    pod_spec = dict(template.get("spec") or {})
    # The controller adds one persistentVolumeClaim volume per claim template (unless the template
    # has a volume of that name): the mounts may name them.
    given = {v.get("name") for v in pod_spec.get("volumes") or [] if isinstance(v, Mapping)}
    pod_spec["volumes"] = [*(pod_spec.get("volumes") or []),
                           *({"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims if c not in given)]
    validate_pod_spec(errs, pod_spec, f"{path}.template.spec", for_pod=False)
    if pod_spec.get("restartPolicy", "Always") != "Always":
        errs.not_supported(f"{path}.template.spec.restartPolicy", pod_spec["restartPolicy"], ("Always",))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.forbidden(f"{path}.template.spec.activeDeadlineSeconds",
                       "activeDeadlineSeconds in StatefulSet is not Supported")


def _statefulset_row(sts: dict[str, Any], now: datetime) -> tuple[list[Cell], None]:
    """printStatefulSet: ready/desired, age, and with -o wide the template's containers and images."""
    meta, spec = sts.get("metadata") or {}, sts.get("spec") or {}
    desired = spec.get("replicas")
    names_, images = _layout_containers(((spec.get("template") or {}).get("spec") or {}).get("containers") or [])
    return [meta.get("name", ""),
            f"{int((sts.get('status') or {}).get('readyReplicas') or 0)}/{1 if desired is None else int(desired)}",
            _since(meta.get("creationTimestamp"), now), names_, images], None


class StatefulSetStrategy(_ReplicatedStrategy):
    printer = tables.TablePrinter([
        _NAME,
        _column("Ready", "Number of the pod with ready state"),
        _AGE,
        *_TEMPLATE_COLUMNS[:2],
    ], _statefulset_row)

    def default(self, obj: Obj) -> None:
        default_statefulset(obj)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_statefulset_spec(errs, obj.get("spec") or {}, "spec")

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        old_spec = {k: v for k, v in (old.get("spec") or {}).items() if k not in _MUTABLE}
        new_spec = {k: v for k, v in (new.get("spec") or {}).items() if k not in _MUTABLE}
        if old_spec != new_spec:
            errs.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                                   "'template', 'updateStrategy', 'revisionHistoryLimit', "
                                   "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
        return errs.causes


def _controller_revision_row(cr: dict[str, Any], now: datetime) -> tuple[list[Cell], None]:
    """printControllerRevision: the controller as <kind>.<group>/<name>."""
    meta = cr.get("metadata") or {}
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    controller = "<none>"
    if owner is not None:
        group = str(owner.get("apiVersion") or "").rpartition("/")[0]
        kind = str(owner.get("kind") or "").lower()
        controller = f"{kind}.{group}/{owner.get('name')}" if group else f"{kind}/{owner.get('name')}"
    return [meta.get("name", ""), controller, int(cr.get("revision") or 0),
            _since(meta.get("creationTimestamp"), now)], None


class ControllerRevisionStrategy(BaseStrategy):
    printer = tables.TablePrinter([
        _NAME,
        _column("Controller", "Controller of the object"),
        _column("Revision", "Revision indicates the revision of the state represented by Data.", type_="integer"),
        _AGE,
    ], _controller_revision_row)

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        validate_object_meta(errs, obj.get("metadata") or {}, namespaced=True, name_fn=self.name_rule)
        if obj.get("data") is not None and not isinstance(obj.get("data"), Mapping):
            errs.invalid("data", obj.get("data"), "must be an object")
        revision = obj.get("revision")
        if revision is None:
            errs.required("revision")
        else:
            non_negative(errs, "revision", revision)
        return errs.causes

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        if new.get("data") != old.get("data"):
            errs.forbidden("data", "field is immutable")
        return errs.causes


STRATEGIES = (
    StatefulSetStrategy(by_group_resource("statefulsets.apps")),
    ControllerRevisionStrategy(by_group_resource("controllerrevisions.apps")),
)
