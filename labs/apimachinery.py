"""Helpers of notebook 09 (API machinery): a fresh namespace per run, the stored row of an object,
"may this identity do that?" as the API server answers it, a JWT's claims, server-side apply.

Notebooks hold no logic: each helper here is one small step a cell shows.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from labs import inspect
from labs.lab import Lab, LabError
from labs.table import Table
from labs.waiting import wait_for


def fresh_namespace(lab: Lab, name: str, *, timeout: float = 90.0) -> str:
    """Delete ``name`` with everything an earlier run left in it, then create it again, empty."""
    with lab.http() as api:
        if api.get(f"/api/v1/namespaces/{name}").status_code == 200:
            api.delete(f"/api/v1/namespaces/{name}")
            wait_for(lambda: api.get(f"/api/v1/namespaces/{name}").status_code == 404, timeout=timeout,
                     what=f"the namespace {name} of an earlier run to be emptied and deleted")
            print(f"removed what an earlier run left: namespace {name}")
        created = api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}})
        if created.status_code != 201:
            raise LabError(f"could not create the namespace {name}: {created.status_code} {created.text}")
    return name


def delete_crd(lab: Lab, name: str, *, timeout: float = 60.0) -> None:
    """Delete a CustomResourceDefinition (and so its objects) if an earlier run left it."""
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    with lab.http() as api:
        if api.get(path).status_code == 404:
            return
        api.delete(path)
        wait_for(lambda: api.get(path).status_code == 404, timeout=timeout,
                 what=f"the CustomResourceDefinition {name} and its objects to be deleted")
        print(f"removed what an earlier run left: CustomResourceDefinition {name}")


def stored_document(lab: Lab, resource: str, namespace: str, name: str) -> dict[str, Any]:
    """The JSON document in the `objects` row, exactly as PostgreSQL holds it."""
    rows = inspect.query(lab, "SELECT data::text AS data FROM objects WHERE resource = $1 AND namespace = $2 "
                              "AND name = $3", resource, namespace, name)
    if not rows:
        raise LabError(f"no objects row for {resource} {namespace}/{name}")
    return json.loads(rows[0]["data"])


def may(lab: Lab, user: str, verb: str, resource: str, namespace: str, *, groups: list[str] | None = None,
        group: str = "", subresource: str = "") -> bool:
    """The API server's answer to "may ``user`` ``verb`` ``resource`` in ``namespace``?" — a
    SubjectAccessReview, the request behind `kubectl auth can-i --as`."""
    attributes = {"namespace": namespace, "verb": verb, "resource": resource, "group": group}
    if subresource:
        attributes["subresource"] = subresource
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "groups": groups or [], "resourceAttributes": attributes}}
    with lab.http() as api:
        answer = api.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    answer.raise_for_status()
    return bool(answer.json()["status"].get("allowed"))


def service_account_groups(namespace: str) -> list[str]:
    """The groups every ServiceAccount token of ``namespace`` authenticates with."""
    return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking its signature (the API server checks it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def with_token(lab: Lab, token: str) -> httpx.Client:
    """An httpx client that presents ``token`` (e.g. a ServiceAccount's) to the lab's API server."""
    return httpx.Client(base_url=lab.api_url, headers={"Authorization": f"Bearer {token}"},
                        verify=str(lab.home.ca_cert), timeout=30)


def server_side_apply(lab: Lab, path: str, manifest: dict[str, Any], *, manager: str,
                      force: bool = False) -> httpx.Response:
    """PATCH ``manifest`` as ``application/apply-patch+yaml`` (JSON is YAML) for ``manager``."""
    params = {"fieldManager": manager, **({"force": "true"} if force else {})}
    with lab.http() as api:
        return api.patch(path, params=params, content=json.dumps(manifest),
                         headers={"Content-Type": "application/apply-patch+yaml"})


def managed_fields(obj: dict[str, Any]) -> Table:
    """Who owns which fields of ``obj`` (its metadata.managedFields), one row per manager."""
    def leaves(fields: dict[str, Any], prefix: str = "") -> list[str]:
        out: list[str] = []
        for key, value in fields.items():
            if key == ".":
                continue
            path = f"{prefix}.{key[2:]}" if key.startswith("f:") else f"{prefix}[{key}]"
            out.extend(leaves(value, path) if value else [path])
        return out

    return Table(({"manager": e.get("manager"), "operation": e.get("operation"),
                   "fields": ", ".join(leaves(e.get("fieldsV1") or {}))}
                  for e in (obj.get("metadata") or {}).get("managedFields") or []),
                 title=f"managedFields of {(obj.get('metadata') or {}).get('name')}")
