"""The real kubectl against the lab's API server: what a learner types must work as on a real cluster.

Each test works in its own namespace. Manifests go to kubectl on stdin (`-f -`); the stored
objects are read back with `kubectl get -o json`, so every assertion is about what the server
stored or answered, as kubectl shows it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from tests.support.lab import Lab
from tests.support.skips import require_kubectl

pytestmark = pytest.mark.kubectl

# No node has this label: test pods stay Pending and unbound whatever scheduler or node agents run,
# so their rows are predictable and deleting them is immediate.
UNSCHEDULABLE = {"labkit.test/no-such-node": "true"}


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    require_kubectl()


def _pod(name: str, *, image: str = "nginx:1.25", labels: dict[str, str] | None = None,
         env: dict[str, str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
    if env is not None:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels if labels is not None else {"app": name}},
            "spec": {"containers": [container], "nodeSelector": UNSCHEDULABLE}}


def _deployment(name: str, *, image: str = "nginx:1.25", labels: dict[str, str] | None = None,
                env: dict[str, str] | None = None, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels if labels is not None else {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeSelector": UNSCHEDULABLE, "containers": [
                    {"name": "main", "image": image,
                     "env": [{"name": k, "value": v} for k, v in (env or {}).items()]},
                    {"name": "side", "image": "busybox:1.36", "command": ["sleep", "3600"]},
                ]},
            },
        },
    }


def _manifest(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


def _kubectl(lab: Lab, namespace: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return lab.kubectl(*args, "-n", namespace, **kwargs)


def _get_json(lab: Lab, namespace: str, *what: str) -> dict[str, Any]:
    return json.loads(_kubectl(lab, namespace, "get", *what, "-o", "json").stdout)


def _apply(lab: Lab, namespace: str, *objects: dict[str, Any]) -> str:
    return _kubectl(lab, namespace, "apply", "-f", "-", input=_manifest(*objects)).stdout


def _header_and_rows(output: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[0].split(), [line.split() for line in lines[1:]]


# -- apply / create ----------------------------------------------------------------------------


def test_apply_creates_a_pod_then_patches_exactly_the_changed_image_and_labels(lab: Lab, namespace: str) -> None:
    assert _apply(lab, namespace, _pod("web", labels={"app": "web", "tier": "front"})).strip() == "pod/web created"
    # A label added out of band (not in the applied configuration) must survive the re-apply.
    _kubectl(lab, namespace, "label", "pod", "web", "owner=ops")
    before = _get_json(lab, namespace, "pod", "web")

    out = _apply(lab, namespace, _pod("web", image="nginx:1.26", labels={"app": "web", "track": "stable"}))

    assert out.strip() == "pod/web configured"
    after = _get_json(lab, namespace, "pod", "web")
    assert after["metadata"]["labels"] == {"app": "web", "track": "stable", "owner": "ops"}
    assert [c["image"] for c in after["spec"]["containers"]] == ["nginx:1.26"]
    # Merged by key, not replaced: the ports and the server's defaults on the container stay.
    assert after["spec"]["containers"][0]["ports"] == before["spec"]["containers"][0]["ports"]
    assert after["spec"]["containers"][0]["imagePullPolicy"] == before["spec"]["containers"][0]["imagePullPolicy"]
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    last_applied = json.loads(after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_apply_of_a_changed_deployment_merges_containers_and_env_by_name(lab: Lab, namespace: str) -> None:
    first = _deployment("api", labels={"app": "api", "tier": "back"}, env={"A": "1", "B": "2", "C": "3"})
    assert _apply(lab, namespace, first).strip() == "deployment.apps/api created"
    # A field no manifest mentions, set on one container: a merge by key keeps it, a list replace loses it.
    _kubectl(lab, namespace, "patch", "deployment", "api", "--type", "json", "-p",
             json.dumps([{"op": "add", "path": "/spec/template/spec/containers/1/workingDir", "value": "/data"}]))

    changed = _deployment("api", image="nginx:1.26", labels={"app": "api"}, env={"A": "1", "B": "20", "D": "4"})
    out = _apply(lab, namespace, changed)

    assert out.strip() == "deployment.apps/api configured"
    stored = _get_json(lab, namespace, "deployment", "api")
    assert stored["metadata"]["labels"] == {"app": "api"}
    containers = stored["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]
    assert containers[0]["image"] == "nginx:1.26"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"},
                                    {"name": "D", "value": "4"}]
    assert containers[1]["workingDir"] == "/data"
    assert containers[1]["command"] == ["sleep", "3600"]
    assert stored["spec"]["replicas"] == 2
    assert stored["metadata"]["generation"] == 3  # create, the json patch, the apply


def test_identical_reapply_says_unchanged_and_changes_nothing(lab: Lab, namespace: str) -> None:
    pod, deployment = _pod("web"), _deployment("api")
    _apply(lab, namespace, pod, deployment)

    def applied_state() -> list[Any]:
        # What apply owns (controllers may still write status, which moves resourceVersion).
        objects = (_get_json(lab, namespace, "pod", "web"), _get_json(lab, namespace, "deployment", "api"))
        return [(o["metadata"].get("generation"), o["metadata"]["labels"], o["metadata"]["annotations"], o["spec"])
                for o in objects]

    before = applied_state()
    out = _apply(lab, namespace, pod, deployment)

    assert out.splitlines() == ["pod/web unchanged", "deployment.apps/api unchanged"]
    assert applied_state() == before


def test_create_makes_the_object_and_a_second_create_is_already_exists(lab: Lab, namespace: str) -> None:
    manifest = _manifest(_pod("web"))
    assert _kubectl(lab, namespace, "create", "-f", "-", input=manifest).stdout.strip() == "pod/web created"

    again = _kubectl(lab, namespace, "create", "-f", "-", input=manifest, check=False)

    assert again.returncode == 1
    assert 'Error from server (AlreadyExists): error when creating "STDIN": pods "web" already exists' in again.stderr
    stored = _get_json(lab, namespace, "pod", "web")
    assert "kubectl.kubernetes.io/last-applied-configuration" not in stored["metadata"].get("annotations", {})


def test_diff_and_server_dry_run_show_the_change_but_store_nothing(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))
    before = _get_json(lab, namespace, "pod", "web")
    changed = _manifest(_pod("web", image="nginx:9.9"))

    diff = _kubectl(lab, namespace, "diff", "-f", "-", input=changed, check=False)
    dry_apply = _kubectl(lab, namespace, "apply", "--dry-run=server", "-f", "-", input=changed)
    dry_create = _kubectl(lab, namespace, "create", "--dry-run=server", "-f", "-", input=_manifest(_pod("dry")))

    assert diff.returncode == 1, diff.stderr  # 1: there are differences
    assert "-  - image: nginx:1.25" in diff.stdout and "+  - image: nginx:9.9" in diff.stdout
    assert dry_apply.stdout.strip() == "pod/web configured (server dry run)"
    assert dry_create.stdout.strip() == "pod/dry created (server dry run)"
    assert _get_json(lab, namespace, "pod", "web") == before
    assert _get_json(lab, namespace, "pods")["items"] == [before]


# -- get ---------------------------------------------------------------------------------------


def test_get_wide_shows_the_pod_columns(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))

    header, rows = _header_and_rows(_kubectl(lab, namespace, "get", "pods", "-o", "wide").stdout)

    assert header[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert "NOMINATED" in header and "READINESS" in header
    assert len(rows) == 1
    assert rows[0][:4] == ["web", "0/1", "Pending", "0"]
    # Without -o wide the priority-1 columns are hidden.
    narrow, _ = _header_and_rows(_kubectl(lab, namespace, "get", "pods").stdout)
    assert narrow == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def test_get_yaml_and_json_print_the_stored_object(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))

    as_yaml = yaml.safe_load(_kubectl(lab, namespace, "get", "pod", "web", "-o", "yaml").stdout)
    as_json = _get_json(lab, namespace, "pod", "web")

    assert as_yaml == as_json
    assert as_json["apiVersion"] == "v1" and as_json["kind"] == "Pod"
    assert as_json["metadata"]["namespace"] == namespace
    assert as_json["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert as_json["status"]["phase"] == "Pending"
    listed = _get_json(lab, namespace, "pods")
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["web"]


def test_get_with_a_label_selector_shows_only_matching_pods(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("a", labels={"app": "web", "tier": "front"}),
           _pod("b", labels={"app": "web", "tier": "back"}), _pod("c", labels={"app": "db"}))

    def names(*selector: str) -> list[str]:
        out = _kubectl(lab, namespace, "get", "pods", *selector, "-o", "name").stdout
        return sorted(out.split())

    assert names("-l", "app=web") == ["pod/a", "pod/b"]
    assert names("-l", "app=web,tier!=front") == ["pod/b"]
    assert names("-l", "tier in (front,back)") == ["pod/a", "pod/b"]
    assert names("-l", "!tier") == ["pod/c"]
    assert names("-l", "app=none") == []


def test_get_with_a_field_selector_filters_on_name_and_phase(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("a"), _pod("b"))

    by_name = _kubectl(lab, namespace, "get", "pods", "--field-selector", "metadata.name=b", "-o", "name").stdout
    running = _kubectl(lab, namespace, "get", "pods", "--field-selector", "status.phase=Running")
    not_running = _kubectl(lab, namespace, "get", "pods", "--field-selector", "status.phase!=Running", "-o", "name")

    assert by_name.split() == ["pod/b"]
    assert running.stdout == "" and f"No resources found in {namespace} namespace." in running.stderr
    assert sorted(not_running.stdout.split()) == ["pod/a", "pod/b"]


def test_get_all_namespaces_adds_a_namespace_column(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))

    header, rows = _header_and_rows(lab.kubectl("get", "pods", "-A").stdout)

    assert header[:2] == ["NAMESPACE", "NAME"]
    assert [namespace, "web", "0/1", "Pending", "0"] in [row[:5] for row in rows]


def test_get_show_labels_adds_a_labels_column(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web", labels={"app": "web", "tier": "front"}))

    header, rows = _header_and_rows(_kubectl(lab, namespace, "get", "pods", "--show-labels").stdout)

    assert header[-1] == "LABELS"
    assert rows == [["web", "0/1", "Pending", "0", rows[0][4], "app=web,tier=front"]]


def test_get_watch_prints_rows_for_objects_created_and_deleted_while_watching(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("before"))
    # In the background, as a learner's second terminal; the server ends the watch after 6 s.
    watcher = subprocess.Popen(
        [shutil.which("kubectl") or "kubectl", "get", "pods", "-n", namespace, "-w", "--output-watch-events",
         "--request-timeout=6s"],
        env=dict(os.environ, KUBECONFIG=str(lab.kubeconfig), HOME=str(lab.home)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # let the list and the watch request reach the server
        _apply(lab, namespace, _pod("during"))
        _kubectl(lab, namespace, "label", "pod", "before", "seen=yes")
        _kubectl(lab, namespace, "delete", "pod", "during")
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()

    assert watcher.returncode == 0, err
    header, rows = _header_and_rows(out)
    assert header == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row[:2] for row in rows] == [["ADDED", "before"], ["ADDED", "during"], ["MODIFIED", "before"],
                                         ["DELETED", "during"]]


def test_get_all_lists_pods_and_deployments(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"), _deployment("api"))

    out = _kubectl(lab, namespace, "get", "all").stdout

    assert "pod/web" in out
    assert "deployment.apps/api" in out


def test_get_raw_returns_the_pod_list_document(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))

    body = json.loads(lab.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/pods").stdout)

    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert isinstance(body["metadata"]["resourceVersion"], str)
    assert [item["metadata"]["name"] for item in body["items"]] == ["web"]


def test_api_resources_lists_the_short_names(lab: Lab) -> None:
    header, rows = _header_and_rows(lab.kubectl("api-resources").stdout)

    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    short = {row[0]: row[1] for row in rows if len(row) == 5}
    assert short["pods"] == "po"
    assert short["nodes"] == "no"
    assert short["deployments"] == "deploy"
    assert short["replicasets"] == "rs"
    assert short["namespaces"] == "ns"
    assert short["events"] == "ev"
    # And kubectl resolves them.
    assert lab.kubectl("get", "no", "-o", "name").returncode == 0


# -- describe ----------------------------------------------------------------------------------


def test_describe_pod_shows_its_events(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))
    uid = _get_json(lab, namespace, "pod", "web")["metadata"]["uid"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.scheduled"},
             "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": namespace, "uid": uid},
             "reason": "Scheduled", "message": f"Successfully assigned {namespace}/web to node-1", "type": "Normal",
             "source": {"component": "default-scheduler"}, "firstTimestamp": now, "lastTimestamp": now, "count": 1}
    _kubectl(lab, namespace, "create", "-f", "-", input=_manifest(event))

    out = _kubectl(lab, namespace, "describe", "pod", "web").stdout

    assert out.startswith("Name:")
    assert re.search(rf"^Namespace:\s+{namespace}$", out, re.MULTILINE)
    assert re.search(r"^\s+Image:\s+nginx:1.25$", out, re.MULTILINE)
    events = out[out.index("Events:"):]
    assert "Scheduled" in events and "default-scheduler" in events
    assert f"Successfully assigned {namespace}/web to node-1" in events


def test_describe_deployment_shows_replicas_strategy_and_template(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _deployment("api", replicas=3, env={"A": "1"}))

    out = _kubectl(lab, namespace, "describe", "deployment", "api").stdout

    assert out.startswith("Name:")
    assert "Selector:" in out and "app=api" in out
    assert "3 desired" in out
    assert "StrategyType:           RollingUpdate" in out
    assert "25% max unavailable, 25% max surge" in out
    assert "nginx:1.25" in out and "busybox:1.36" in out
    assert "Events:" in out


# -- delete / label / annotate / patch / scale ---------------------------------------------------


def test_delete_pod_by_name_removes_it(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"), _pod("keep"))

    out = _kubectl(lab, namespace, "delete", "pod", "web").stdout

    assert out.strip() == 'pod "web" deleted'
    gone = _kubectl(lab, namespace, "get", "pod", "web", check=False)
    assert gone.returncode == 1 and 'pods "web" not found' in gone.stderr
    assert _kubectl(lab, namespace, "get", "pods", "-o", "name").stdout.split() == ["pod/keep"]


def test_delete_from_a_manifest_removes_every_object_in_it(lab: Lab, namespace: str) -> None:
    manifest = _manifest(_pod("web"), _deployment("api"))
    _kubectl(lab, namespace, "apply", "-f", "-", input=manifest)

    out = _kubectl(lab, namespace, "delete", "-f", "-", input=manifest).stdout

    assert out.splitlines() == ['pod "web" deleted', 'deployment.apps "api" deleted']
    for kind, name in (("pod", "web"), ("deployment", "api")):
        gone = _kubectl(lab, namespace, "get", kind, name, check=False)
        assert gone.returncode == 1 and "(NotFound)" in gone.stderr


def test_label_and_annotate_add_overwrite_and_remove(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web", labels={"app": "web", "tier": "front"}))

    assert _kubectl(lab, namespace, "label", "pod", "web", "env=prod").stdout.strip() == "pod/web labeled"
    assert _kubectl(lab, namespace, "annotate", "pod", "web", "note=hello").stdout.strip() == "pod/web annotated"
    refused = _kubectl(lab, namespace, "label", "pod", "web", "env=dev", check=False)
    assert refused.returncode == 1 and "--overwrite is false" in refused.stderr
    _kubectl(lab, namespace, "label", "pod", "web", "env=dev", "--overwrite")
    assert _kubectl(lab, namespace, "label", "pod", "web", "tier-").stdout.strip() == "pod/web unlabeled"
    _kubectl(lab, namespace, "annotate", "pod", "web", "note-")

    meta = _get_json(lab, namespace, "pod", "web")["metadata"]
    assert meta["labels"] == {"app": "web", "env": "dev"}
    assert "note" not in meta.get("annotations", {})
    assert "kubectl.kubernetes.io/last-applied-configuration" in meta["annotations"]


def test_patch_merge_json_and_strategic(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _deployment("api", env={"A": "1", "B": "2"}))

    _kubectl(lab, namespace, "patch", "deployment", "api", "--type", "merge", "-p",
             '{"metadata":{"labels":{"patched":"merge"}},"spec":{"minReadySeconds":5}}')
    _kubectl(lab, namespace, "patch", "deployment", "api", "--type", "json", "-p",
             '[{"op":"replace","path":"/spec/replicas","value":4},'
             '{"op":"remove","path":"/spec/template/spec/containers/0/env/0"}]')
    # Strategic (kubectl's default type): one container by name, the other kept.
    _kubectl(lab, namespace, "patch", "deployment", "api", "--type", "strategic", "-p",
             '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}}}')

    stored = _get_json(lab, namespace, "deployment", "api")
    assert stored["metadata"]["labels"] == {"app": "api", "patched": "merge"}
    assert stored["spec"]["minReadySeconds"] == 5
    assert stored["spec"]["replicas"] == 4
    containers = stored["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("main", "nginx:1.25"), ("side", "busybox:1.37")]
    assert containers[0]["env"] == [{"name": "B", "value": "2"}]


def test_patch_with_a_failing_json_test_operation_changes_nothing(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))
    before = _get_json(lab, namespace, "pod", "web")["metadata"]["resourceVersion"]

    failed = _kubectl(lab, namespace, "patch", "pod", "web", "--type", "json", "-p",
                      '[{"op":"test","path":"/metadata/name","value":"other"},'
                      '{"op":"add","path":"/metadata/labels/x","value":"y"}]', check=False)

    # As kube-apiserver: 422 without details, which kubectl prints as "The request is invalid".
    assert failed.returncode == 1 and failed.stderr.startswith("The request is invalid: ")
    after = _get_json(lab, namespace, "pod", "web")
    assert after["metadata"]["resourceVersion"] == before and "x" not in after["metadata"]["labels"]


def test_scale_deployment_sets_spec_replicas_and_the_scale_subresource(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _deployment("api", replicas=2))

    out = _kubectl(lab, namespace, "scale", "deploy", "api", "--replicas=5").stdout

    assert out.strip() == "deployment.apps/api scaled"
    assert _get_json(lab, namespace, "deployment", "api")["spec"]["replicas"] == 5
    scale = json.loads(lab.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{namespace}/deployments/api/scale").stdout)
    assert scale["apiVersion"] == "autoscaling/v1" and scale["kind"] == "Scale"
    assert scale["metadata"]["name"] == "api" and scale["metadata"]["namespace"] == namespace
    assert scale["spec"] == {"replicas": 5}
    assert scale["status"]["selector"] == "app=api"
    # --current-replicas is a precondition checked against the scale subresource.
    stale = _kubectl(lab, namespace, "scale", "deploy", "api", "--current-replicas=2", "--replicas=1", check=False)
    assert stale.returncode == 1
    assert _get_json(lab, namespace, "deployment", "api")["spec"]["replicas"] == 5


# -- errors --------------------------------------------------------------------------------------


def test_get_of_a_missing_pod_is_not_found(lab: Lab, namespace: str) -> None:
    result = _kubectl(lab, namespace, "get", "pod", "missing", check=False)

    assert result.returncode == 1
    assert result.stderr.strip() == 'Error from server (NotFound): pods "missing" not found'


def test_apply_with_an_unknown_field_is_a_strict_decoding_error(lab: Lab, namespace: str) -> None:
    pod = _pod("web")
    pod["spec"]["containers"][0]["imagePullPolice"] = "Always"

    result = _kubectl(lab, namespace, "apply", "-f", "-", input=_manifest(pod), check=False)

    assert result.returncode == 1
    assert "Error from server (BadRequest)" in result.stderr
    assert 'strict decoding error: unknown field "spec.containers[0].imagePullPolice"' in result.stderr
    assert _kubectl(lab, namespace, "get", "pod", "web", check=False).returncode == 1


def test_apply_with_an_invalid_quantity_is_invalid(lab: Lab, namespace: str) -> None:
    pod = _pod("web")
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1x"}}

    result = _kubectl(lab, namespace, "apply", "-f", "-", input=_manifest(pod), check=False)

    assert result.returncode == 1
    assert 'The Pod "web" is invalid' in result.stderr
    assert 'spec.containers[0].resources.limits.cpu: Invalid value: "1x"' in result.stderr
    assert _kubectl(lab, namespace, "get", "pod", "web", check=False).returncode == 1


def test_a_viewer_can_get_but_not_delete(lab: Lab, namespace: str) -> None:
    _apply(lab, namespace, _pod("web"))

    listed = _kubectl(lab, namespace, "get", "pods", "-o", "name", identity="viewer")
    refused = _kubectl(lab, namespace, "delete", "pod", "web", identity="viewer", check=False)

    assert listed.stdout.split() == ["pod/web"]
    assert refused.returncode == 1
    assert refused.stderr.strip() == (f'Error from server (Forbidden): pods "web" is forbidden: User "viewer" cannot '
                                      f'delete resource "pods" in API group "" in the namespace "{namespace}"')
    assert _get_json(lab, namespace, "pod", "web")["metadata"]["name"] == "web"
