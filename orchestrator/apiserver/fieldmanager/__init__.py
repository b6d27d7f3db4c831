"""Server-side apply and managedFields: which manager owns which field of an object.

Every write records its manager's fields in `metadata.managedFields`; `PATCH` with
`application/apply-patch+yaml` merges a configuration, removes what the same manager stopped
applying and answers 409 when it would change fields another manager owns.

    fieldpath.py  paths, field sets, FieldsV1 and the `.spec.replicas` spelling
    typed.py      objects through the kind's list/map schema: field_set, compare, merge, remove
    entries.py    the managedFields entries as stored (decode, encode, order, cap)
    manager.py    FieldManager: record_create / record_update / begin_apply + finish_apply

Kubernetes equivalent: k8s.io/apimachinery/pkg/util/managedfields,
sigs.k8s.io/structured-merge-diff/v4
"""

from orchestrator.apiserver.fieldmanager.manager import (
    BEFORE_FIRST_APPLY,
    LAST_APPLIED,
    ApplyPlan,
    FieldManager,
    check_apply_options,
    check_field_manager,
    field_manager_for,
    manager_name,
    now_rfc3339,
)

__all__ = [
    "BEFORE_FIRST_APPLY",
    "LAST_APPLIED",
    "ApplyPlan",
    "FieldManager",
    "check_apply_options",
    "check_field_manager",
    "field_manager_for",
    "manager_name",
    "now_rfc3339",
]
