"""RBAC on a real lab with real kubectl: roles and bindings as objects, `auth can-i` (and `--list`),
`auth whoami`, impersonation with `--as`, escalation prevention, aggregation.

New users are added the way `labctl up` adds identities: a line in the lab's token file (the
API server re-reads it on an unknown token) and a kubeconfig of their own.

Kubernetes equivalent: test/integration/auth/rbac_test.go, test/cmd/auth_whoami.sh, test/cmd/rbac.sh
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import httpx
import pytest

from orchestrator.lab.pki import write_kubeconfig
from tests.support.lab import Lab
from tests.support.skips import require_kubectl

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning")]

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def add_user(lab: Lab, *, groups: tuple[str, ...] = ()) -> str:
    """A new user with a token and a kubeconfig (``lab.kubectl(..., identity=<name>)``); returns its name."""
    name = f"u-{uuid.uuid4().hex[:8]}"
    token = secrets.token_urlsafe(32)
    with (lab.home / "tokens.csv").open("a") as f:
        f.write(f'{token},{name},{name},"{",".join(groups)}"\n')
    lab.tokens[name] = token
    write_kubeconfig(lab.kubeconfig_for(name), server=lab.server, ca_pem=lab.ca_file.read_bytes(), token=token,
                     user=name)
    # The server re-reads the token file at most once a second: wait until it knows the token.
    deadline = time.monotonic() + 10
    while lab.kubectl("auth", "whoami", identity=name, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"the API server never accepted {name}'s token"
        time.sleep(0.2)
    return name


async def namespace(api: httpx.AsyncClient) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    r = await api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


async def until(check, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    """RBAC changes reach the authorizer through the API server's watch: within moments, not at once."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.1)


def can_i(lab: Lab, identity: str, *args: str) -> bool:
    result = lab.kubectl("auth", "can-i", *args, identity=identity, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
    return result.stdout.strip() == "yes"


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    require_kubectl()


async def test_a_user_bound_to_view_in_one_namespace_reads_there_and_nowhere_else(lab: Lab,
                                                                                   api: httpx.AsyncClient) -> None:
    mine, other = await namespace(api), await namespace(api)
    jane = add_user(lab)
    lab.kubectl("create", "rolebinding", "jane-view", "--clusterrole=view", f"--user={jane}", "-n", mine)
    await until(lambda: lab.kubectl("get", "pods", "-n", mine, identity=jane, check=False).returncode == 0)
    assert "No resources found" in lab.kubectl("get", "pods", "-n", mine, identity=jane).stderr
    lab.kubectl("get", "deployments,replicasets", "-n", mine, identity=jane)
    denied = lab.kubectl("get", "pods", "-n", other, identity=jane, check=False)
    assert denied.returncode != 0
    assert (f'pods is forbidden: User "{jane}" cannot list resource "pods" in API group "" in the namespace '
            f'"{other}"') in denied.stderr
    assert lab.kubectl("get", "pods", "-A", identity=jane, check=False).returncode != 0
    assert lab.kubectl("get", "nodes", identity=jane, check=False).returncode != 0
    created = lab.kubectl("run", "web", "--image=busybox", "-n", mine, identity=jane, check=False)
    assert created.returncode != 0 and "cannot create resource" in created.stderr


# (verb, resource, namespace key): namespace key "mine" / "other" / "" (cluster scope)
MATRIX = [
    ("get", "pods", "mine"), ("list", "pods", "mine"), ("watch", "pods", "mine"), ("create", "pods", "mine"),
    ("delete", "pods", "mine"), ("list", "pods", "other"), ("list", "deployments.apps", "mine"),
    ("create", "deployments.apps", "mine"), ("list", "leases.coordination.k8s.io", "mine"),
    ("list", "roles.rbac.authorization.k8s.io", "mine"), ("create", "rolebindings.rbac.authorization.k8s.io", "mine"),
    ("list", "nodes", ""), ("list", "namespaces", ""), ("get", "pods/log", "mine"),
    ("list", "clusterroles.rbac.authorization.k8s.io", ""),
]


async def _enforced(client: httpx.AsyncClient, verb: str, resource: str, ns: str | None) -> bool:
    """What the server does when asked for real (a 403 or not)."""
    plural, _, group = resource.partition(".")
    sub = ""
    if "/" in plural:
        plural, sub = plural.split("/")
    prefix = f"/apis/{group}/v1" if group else "/api/v1"
    coll = f"{prefix}/namespaces/{ns}/{plural}" if ns else f"{prefix}/{plural}"
    item = f"{coll}/absent-{uuid.uuid4().hex[:6]}" + (f"/{sub}" if sub else "")
    if verb == "get":
        r = await client.get(item)
    elif verb == "list":
        r = await client.get(coll)
    elif verb == "watch":
        r = await client.get(coll, params={"watch": "true", "timeoutSeconds": "1"})
    elif verb == "create" and plural == "rolebindings":
        # a valid binding, dry run: granting is judged on what it grants (escalation prevention)
        r = await client.post(coll, params={"dryRun": "All"}, json={
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "probe"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "probe"}]})
    elif verb == "create":
        # an invalid body: allowed requests fail validation (422), forbidden ones never get there
        r = await client.post(coll, json={"metadata": {}})
    else:
        r = await client.delete(item)
    assert r.status_code != 401 and r.status_code < 500, r.text
    return r.status_code != 403


@pytest.mark.parametrize("who", ["viewer", "ns-admin", "ns-edit"])
async def test_auth_can_i_answers_what_the_server_enforces(lab: Lab, api: httpx.AsyncClient, who: str) -> None:
    mine, other = await namespace(api), await namespace(api)
    if who == "viewer":
        identity, user = "viewer", "viewer"
    else:
        user = identity = add_user(lab)
        lab.kubectl("create", "rolebinding", "b", f"--clusterrole={who.removeprefix('ns-')}", f"--user={user}",
                    "-n", mine)
        await until(lambda: can_i(lab, identity, "list", "pods", "-n", mine))
    problems = []
    async with lab.client(user) as client:
        for verb, resource, where in MATRIX:
            ns = {"mine": mine, "other": other, "": None}[where]
            what = (resource.split("/")[0], f"--subresource={resource.split('/')[1]}") if "/" in resource else (resource,)
            said = can_i(lab, identity, verb, *what, *(("-n", ns) if ns else ()))
            did = await _enforced(client, verb, resource, ns)
            if said != did:
                problems.append(f"{who} {verb} {resource} in {where or 'cluster'}: can-i says {said}, server {did}")
    assert not problems, "\n".join(problems)


async def test_auth_can_i_list_shows_the_rules(lab: Lab, api: httpx.AsyncClient) -> None:
    ns = await namespace(api)
    jane = add_user(lab)
    lab.kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", ns)
    lab.kubectl("create", "rolebinding", "r", "--role=pod-reader", f"--user={jane}", "-n", ns)
    await until(lambda: can_i(lab, jane, "list", "pods", "-n", ns))
    out = lab.kubectl("auth", "can-i", "--list", "-n", ns, identity=jane).stdout
    lines = {" ".join(line.split()) for line in out.splitlines()}
    assert "pods [] [] [get list]" in lines, out
    assert any(line.startswith("selfsubjectaccessreviews.authorization.k8s.io [] [] [create]") for line in lines), out
    assert any(line.startswith("[/api/*] [] [get]") for line in lines), out


async def test_auth_whoami(lab: Lab) -> None:
    out = lab.kubectl("auth", "whoami", identity="viewer").stdout
    rows = {" ".join(line.split()) for line in out.splitlines()}
    assert "Username viewer" in rows, out
    assert "Groups [labkit:viewers system:authenticated]" in rows, out
    assert lab.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "admin"


async def test_impersonation_only_for_those_allowed(lab: Lab, api: httpx.AsyncClient) -> None:
    ns = await namespace(api)
    jane = add_user(lab)
    lab.kubectl("create", "rolebinding", "jv", "--clusterrole=view", f"--user={jane}", "-n", ns)
    await until(lambda: can_i(lab, "admin", "list", "pods", "-n", ns, f"--as={jane}"))
    assert not can_i(lab, "admin", "delete", "pods", "-n", ns, f"--as={jane}")
    assert lab.kubectl("get", "pods", "-n", ns, f"--as={jane}", check=False).returncode == 0
    assert lab.kubectl("auth", "whoami", f"--as={jane}", "--as-group=devs", "-o",
                       "jsonpath={.status.userInfo.groups}").stdout == '["devs","system:authenticated"]'
    denied = lab.kubectl("get", "pods", "-n", ns, f"--as={jane}", identity="viewer", check=False)
    assert denied.returncode != 0
    assert (f'users "{jane}" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the '
            'cluster scope') in denied.stderr


async def test_kubectl_creates_and_prints_roles_and_bindings(lab: Lab, api: httpx.AsyncClient) -> None:
    ns = await namespace(api)
    name = f"r-{uuid.uuid4().hex[:6]}"
    lab.kubectl("create", "role", name, "--verb=get,list,watch", "--resource=pods,deployments.apps", "-n", ns)
    lab.kubectl("create", "rolebinding", name, f"--role={name}", "--user=jane", "--group=devs",
                f"--serviceaccount={ns}:ci", "-n", ns)
    # one resource rule and one URL rule (kubectl writes them as two rules)
    lab.kubectl("create", "clusterrole", name, "--verb=get", "--resource=nodes", "--non-resource-url=/healthz")
    lab.kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", "--group=devs")
    roles = lab.kubectl("get", "roles", "-n", ns).stdout.splitlines()
    assert roles[0].split() == ["NAME", "CREATED", "AT"] and roles[1].split()[0] == name
    wide = lab.kubectl("get", "rolebinding", name, "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1].split()[:2] == [name, f"Role/{name}"] and wide[1].split()[3:] == ["jane", "devs", f"{ns}/ci"]
    crb = lab.kubectl("get", "clusterrolebinding", name).stdout.splitlines()
    assert crb[1].split()[:2] == [name, f"ClusterRole/{name}"]
    described = lab.kubectl("describe", "role", name, "-n", ns).stdout
    assert "pods" in described and "deployments.apps" in described
    described = lab.kubectl("describe", "clusterrole", name).stdout
    assert "nodes" in described and "[/healthz]" in described
    # roleRef is immutable
    r = await api.patch(f"{RBAC}/namespaces/{ns}/rolebindings/{name}",
                        json={"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422 and "cannot change roleRef" in r.text
    # a rule without verbs is refused with the field named
    r = await api.post(f"{RBAC}/namespaces/{ns}/roles", json={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "bad"},
        "rules": [{"apiGroups": [""], "resources": ["pods"]}]})
    assert r.status_code == 422 and "rules[0].verbs" in r.text
    for kind, where in (("rolebinding", ("-n", ns)), ("role", ("-n", ns)), ("clusterrolebinding", ()),
                        ("clusterrole", ())):
        lab.kubectl("delete", kind, name, *where)


async def test_bootstrap_roles_exist_and_show_their_rules(lab: Lab) -> None:
    names = lab.kubectl("get", "clusterroles", "-o", "name").stdout.split()
    for expected in ("cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
                     "system:kube-scheduler", "system:kube-controller-manager"):
        assert f"clusterrole.rbac.authorization.k8s.io/{expected}" in names
    described = lab.kubectl("describe", "clusterrole", "view").stdout
    assert "deployments.apps" in described and "secrets" not in described
    bindings = lab.kubectl("get", "clusterrolebindings", "-o", "name").stdout.split()
    assert "clusterrolebinding.rbac.authorization.k8s.io/cluster-admin" in bindings


async def test_nobody_grants_what_they_do_not_hold(lab: Lab, api: httpx.AsyncClient) -> None:
    ns = await namespace(api)
    jane = add_user(lab)
    lab.kubectl("create", "rolebinding", "jane-admin", "--clusterrole=admin", f"--user={jane}", "-n", ns)
    await until(lambda: can_i(lab, jane, "create", "roles", "-n", ns))
    lab.kubectl("create", "role", "pods", "--verb=get", "--resource=pods", "-n", ns, identity=jane)
    refused = lab.kubectl("create", "role", "nodes", "--verb=get", "--resource=nodes", "-n", ns, identity=jane,
                          check=False)
    assert refused.returncode != 0
    assert "is attempting to grant RBAC permissions not currently held" in refused.stderr
    refused = lab.kubectl("create", "rolebinding", "me-admin", "--clusterrole=cluster-admin", f"--user={jane}",
                          "-n", ns, identity=jane, check=False)
    assert refused.returncode != 0 and "not currently held" in refused.stderr
    # what jane holds she may grant to others
    lab.kubectl("create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob", "-n", ns, identity=jane)


async def test_an_aggregated_rule_is_in_force_within_moments(lab: Lab, api: httpx.AsyncClient) -> None:
    ns = await namespace(api)
    jane = add_user(lab)
    lab.kubectl("create", "rolebinding", "jv", "--clusterrole=view", f"--user={jane}", "-n", ns)
    await until(lambda: can_i(lab, jane, "list", "pods", "-n", ns))
    assert not can_i(lab, jane, "list", "leases.coordination.k8s.io", "-n", ns)
    name = f"leases-view-{uuid.uuid4().hex[:6]}"
    lab.kubectl("apply", "-f", "-", input=f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {name}
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch"]
""")
    try:
        await until(lambda: can_i(lab, jane, "list", "leases.coordination.k8s.io", "-n", ns))
        lab.kubectl("get", "leases", "-n", ns, identity=jane)
    finally:
        lab.kubectl("delete", "clusterrole", name)
    await until(lambda: not can_i(lab, jane, "list", "leases.coordination.k8s.io", "-n", ns))


async def test_paths_that_name_no_resource_are_authorized_by_path(lab: Lab) -> None:
    async with lab.client("viewer") as viewer:
        for path in ("/api", "/apis/apps/v1", "/openapi/v3", "/version"):
            assert (await viewer.get(path)).status_code == 200, path
        r = await viewer.get("/metrics")
    assert r.status_code == 403
    assert r.json()["message"] == 'forbidden: User "viewer" cannot get path "/metrics"'
    assert not can_i(lab, "viewer", "get", "/metrics")
    assert can_i(lab, "viewer", "get", "/apis/apps/v1")
    assert can_i(lab, "admin", "get", "/metrics")
