"""Exercise of notebook 09: give a ServiceAccount read-only access to ConfigMaps, and nothing more.

RBAC is data: a **Role** lists what may be done (verbs on resources, in one namespace), a
**RoleBinding** says who may do it (a user, a group, or a ServiceAccount). Write both so that the
ServiceAccount ``auditor`` in the notebook's namespace may ``get``, ``list`` and ``watch``
ConfigMaps there — and may not read Secrets, change anything, or look into other namespaces:

    labs.check("read-only-role", lab=lab, namespace=NS)

The check asks the API server itself (SubjectAccessReview, what `kubectl auth can-i --as` does),
so it grades what the server would enforce, whatever the objects look like.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register

ACCOUNT = "auditor"


@register("read-only-role", title="A read-only Role for a ServiceAccount", notebook="09-api-machinery")
def check(c: Checker, *, lab: Any, namespace: str) -> None:
    user = f"system:serviceaccount:{namespace}:{ACCOUNT}"
    with lab.http() as api:
        bindings = api.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings").json()
        binds_auditor = [b for b in bindings.get("items") or []
                         if any(s.get("kind") == "ServiceAccount" and s.get("name") == ACCOUNT
                                and s.get("namespace", namespace) == namespace for s in b.get("subjects") or [])]
        if not c.expect(
            bool(binds_auditor),
            passed=f"a RoleBinding in {namespace} names the ServiceAccount {ACCOUNT}",
            failed=f"no RoleBinding in {namespace} has the ServiceAccount {ACCOUNT} among its subjects",
            hint=f'a RoleBinding\'s subjects: [{{"kind": "ServiceAccount", "name": "{ACCOUNT}", "namespace": NS}}]; '
                 "its roleRef names your Role",
        ):
            return

        def may(verb: str, resource: str, ns: str = namespace) -> bool:
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                      "spec": {"user": user, "groups": ["system:serviceaccounts",
                                                        f"system:serviceaccounts:{namespace}",
                                                        "system:authenticated"],
                               "resourceAttributes": {"namespace": ns, "verb": verb, "resource": resource}}}
            answer = api.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
            answer.raise_for_status()
            return bool(answer.json()["status"].get("allowed"))

        reads = {verb: may(verb, "configmaps") for verb in ("get", "list", "watch")}
        if not c.expect(
            all(reads.values()),
            passed=f"{ACCOUNT} may get, list and watch ConfigMaps in {namespace}",
            failed=f"{ACCOUNT} may not {', '.join(v for v, ok in reads.items() if not ok)} ConfigMaps in {namespace}",
            hint='the Role\'s rule: {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]} '
                 '— ConfigMaps are in the core group, written ""',
        ):
            return
        too_much = [what for what, allowed in (
            ("get Secrets", may("get", "secrets")),
            ("delete ConfigMaps", may("delete", "configmaps")),
            ("update ConfigMaps", may("update", "configmaps")),
            ("create pods", may("create", "pods")),
        ) if allowed]
        c.expect(
            not too_much,
            passed=f"{ACCOUNT} may do nothing else there: no Secrets, no writes",
            failed=f"{ACCOUNT} may also {', '.join(too_much)}",
            hint="least privilege: list only the verbs and resources the account needs — no \"*\"",
        )
        elsewhere = may("get", "configmaps", "default") if namespace != "default" else False
        c.expect(
            not elsewhere,
            passed="and nothing in other namespaces: a Role and its RoleBinding grant in their own namespace only",
            failed=f"{ACCOUNT} may also read ConfigMaps in default",
            hint="use a Role and a RoleBinding (namespaced), not a ClusterRole bound with a ClusterRoleBinding",
        )
